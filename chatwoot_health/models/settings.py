"""Typed settings, as :mod:`chatwoot_health.config` resolves them (flag > env > file > default).

Plain values only: the commands receive these, never a mapping of raw settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr

from chatwoot_health.thresholds import RETRY_INTERVAL, SERVICE_DOWN_AFTER

#: Seconds for every Supabase request of one report, together.
SUPABASE_READ_BUDGET = 60.0


@dataclass(frozen=True)
class SupabaseSettings:
    url: str
    key: SecretStr
    timeout: float = 10.0
    decision_log: str = "decision_log"
    approvals_history: str = "approvals_history"
    notifications: str = "notifications"
    budget: float = SUPABASE_READ_BUDGET


@dataclass(frozen=True)
class CheckSettings:
    """What ``check`` needs: the instance, its credentials, the probes' timeouts."""

    base_url: str
    api_token: SecretStr | None
    account_id: int | None
    health_path: str | None
    agent_health_url: str | None
    artifacts_dir: Path
    timeout: float
    agent_slow: float
    agent_timeout: float
    run_timeout: float
    #: Confirming a failed liveness probe: re-probe every ``retry_interval`` seconds until the
    #: failure has lasted ``down_after`` (service_down's threshold).
    retry_interval: float = RETRY_INTERVAL.total_seconds()
    down_after: timedelta = SERVICE_DOWN_AFTER
    #: Also push the banner alerts (uptime_below_target, monitoring_gap, stale_data).
    push_banners: bool = False
    #: The alert state database; None: beside the artifacts.
    state_path: Path | None = None
    #: The shared store (CHATWOOT_HEALTH_STORE, a postgresql:// URL); None: files only.
    store: str | None = None
    #: This probe host's name (CHATWOOT_HEALTH_LOCATION, default the host name).
    location: str = ""
    liveness_only: bool = False
