"""Orders: the HTTP ingest API, durable before it answers."""
