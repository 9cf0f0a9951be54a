"""Channel names shared by the SLA breach list and the channel report, so both say "Live chat"."""

from __future__ import annotations

_LABELS: dict[str, str] = {
    # Chatwoot's channel_type values …
    "channel::email": "Email",
    "channel::webwidget": "Live chat",
    "channel::sms": "SMS",
    "channel::twiliosms": "SMS",
    "channel::whatsapp": "WhatsApp",
    "channel::api": "API",
    "channel::facebookpage": "Facebook",
    "channel::instagram": "Instagram",
    "channel::telegram": "Telegram",
    "channel::line": "LINE",
    "channel::twitterprofile": "Twitter",
    "channel::tiktok": "TikTok",
    # … and the short forms an agent may write into decision_log.channel.
    "email": "Email",
    "chat": "Live chat",
    "live_chat": "Live chat",
    "sms": "SMS",
    "whatsapp": "WhatsApp",
    "api": "API",
}


def channel_label(channel: str | None) -> str:
    """A reader's name for a channel (case-insensitive); unknown values are shown as given, and a
    missing or blank one as "Unknown" rather than an empty cell."""
    if channel is None or not channel.strip():
        return "Unknown"
    return _LABELS.get(channel.strip().lower(), channel)
