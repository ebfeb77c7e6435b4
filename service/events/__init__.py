"""Live events: a transactional outbox, LISTEN/NOTIFY or in-process wake-ups, and an SSE stream."""
