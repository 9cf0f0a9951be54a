"""Probes: the I/O edge that turns HTTP answers into :class:`~chatwoot_health.artifacts.CheckResult`."""
