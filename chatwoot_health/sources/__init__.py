"""Data sources other than the artifacts (Supabase). Heavy clients are imported lazily."""
