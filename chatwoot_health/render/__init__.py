"""Renderers: one registry per command, chosen by ``--format``; data to stdout or ``--output``."""
