"""The append-only audit log of staff writes and reads of sensitive data."""
