"""The live event stream (Server-Sent Events): who may watch it and which events each watcher sees.

Above the domains whose visibility rules it applies (requests, key households); the outbox and the
hub that wakes streams stay in ``service.events``."""
