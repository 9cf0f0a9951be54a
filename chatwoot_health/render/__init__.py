"""Renderers: one registry per command, chosen by ``--format``; data goes to stdout or ``--output``."""
