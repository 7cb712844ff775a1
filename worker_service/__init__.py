"""Stream worker: applies job chunks to PostgreSQL and records progress in Redis."""
