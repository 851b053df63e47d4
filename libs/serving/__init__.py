"""Serving: the latest gold tables in memory (delta-rs, no Spark) behind an HTTP API."""
