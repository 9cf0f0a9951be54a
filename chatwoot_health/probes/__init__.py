"""Probes: the I/O edge that turns HTTP answers into check results."""
