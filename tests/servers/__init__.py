"""Stand-in servers for the notification tests (loopback only)."""
