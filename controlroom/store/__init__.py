"""The audit store: an append-only, hash-chained SQLite log of every event."""
