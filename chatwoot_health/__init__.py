"""chatwoot-health: is our Chatwoot healthy, and are we meeting the response-time SLA?"""

__version__ = "0.1.0"
