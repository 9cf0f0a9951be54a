"""Fixtures for the Chatwoot-like server (filled in by the check tests)."""
