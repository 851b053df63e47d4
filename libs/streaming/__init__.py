"""Structured Streaming: landed events through batch ingest's validation, then real-time features and triggers."""
