"""Fixtures for the real PostgreSQL and the PostgREST-protocol stand-in (filled in by the Supabase tests)."""
