"""Notifications: which alert episodes start and resolve (pure), recorded with an outbox in an
embedded SQLite database (at least once, never twice for overlapping runs), delivered through
Apprise and the Slack-compatible webhook at the edge.

The commands call :func:`notify` once per run with the run's alerts; the pieces are
:mod:`.decide` (pure), :mod:`.messages` (texts and ids), :mod:`.state` (all the SQL) and
:mod:`.channels` (delivery; Apprise imported only when used).
"""

from chatwoot_health.alerts import BANNER, PROACTIVE
from chatwoot_health.notify.channels import Channel, ChannelError, parse_channels, webhook_channel
from chatwoot_health.notify.engine import NotifyOutcome, default_state_path, notify

__all__ = [
    "BANNER",
    "PROACTIVE",
    "Channel",
    "ChannelError",
    "NotifyOutcome",
    "default_state_path",
    "notify",
    "parse_channels",
    "webhook_channel",
]
