"""Every threshold the report shows or judges, named once with the spec's name.

The README's alert and section tables quote these values; the metrics, the alert rules and the
renderers import them from here, so a change is one line.
"""

from __future__ import annotations

from datetime import timedelta

#: The business calendar's defaults (CHATWOOT_HEALTH_TIMEZONE, …_BUSINESS_HOURS, …_BUSINESS_DAYS).
DEFAULT_TIMEZONE = "America/New_York"
DEFAULT_OPENS_MINUTE = 9 * 60  # 09:00 local
DEFAULT_CLOSES_MINUTE = 17 * 60  # 17:00 local
DEFAULT_BUSINESS_DAYS = frozenset(range(5))  # Monday to Friday

#: The business-hours response target of the SLA and of the channels (CHATWOOT_HEALTH_SLA_TARGET).
RESPONSE_TARGET = timedelta(minutes=15)
RESPONSE_TARGET_MINUTES = RESPONSE_TARGET.total_seconds() / 60

# -- uptime and coverage ---------------------------------------------------------------------------
UPTIME_TARGET_PERCENT = 99.9  # green at or above; below raises uptime_below_target
UPTIME_YELLOW_PERCENT = 99.0
MIN_COVERAGE_PERCENT = 90.0  # below raises monitoring_gap
STALE_AFTER_INTERVALS = 3  # the latest artifact older than this many intervals: stale_data

# -- several probe locations (issue #14) -----------------------------------------------------------
#: A location is *known* (it votes) while its latest run is at most this many intervals old; older,
#: it is silent (probe_host_silent on every other host).
LOCATION_KNOWN_INTERVALS = 3

# -- liveness and response time --------------------------------------------------------------------
#: service_down: at least this many failed liveness probes (runs or re-probes) in a row, the first
#: and the last at least SERVICE_DOWN_AFTER apart (CHATWOOT_HEALTH_DOWN_AFTER overrides it).
SERVICE_DOWN_RUNS = 2
SERVICE_DOWN_AFTER = timedelta(minutes=2)
#: After a failed liveness probe, ``check`` re-probes this often (CHATWOOT_HEALTH_RETRY_INTERVAL)
#: until it answers or the failure has lasted SERVICE_DOWN_AFTER.
RETRY_INTERVAL = timedelta(seconds=30)
AGENT_OFFLINE_RUNS = 2
#: P90 of the health checks (the response-time target and the slow_response threshold).
RESPONSE_TIME_TARGET_MS = 5000.0
MIN_SAMPLES_P99 = 100

# -- queue -----------------------------------------------------------------------------------------
#: More than this many pending (conversations or approvals): yellow backlog and, held for
#: HIGH_QUEUE_FOR, the high_queue alert.
HIGH_QUEUE_PENDING = 10
HIGH_QUEUE_FOR = timedelta(minutes=30)
URGENT_QUEUE_PENDING = 20  # more than this: red "URGENT: High backlog"

# -- channels --------------------------------------------------------------------------------------
SLOW_CHANNEL_MINUTES = 30.0
CHANNEL_OUTAGE_AFTER = timedelta(hours=4)  # of observed business time without a message
SILENCE_LOOKBACK = timedelta(days=7)

# -- SLA and the approval pipeline -----------------------------------------------------------------
SLA_GREEN_PERCENT = 95
SLA_YELLOW_PERCENT = 85  # below raises sla_breach
WEBHOOK_TARGET_MS = 1000
PRIVATE_NOTE_TARGET_MS = 3000
APPROVAL_TARGET_MS = 2000

# -- dashboard -------------------------------------------------------------------------------------
DASHBOARD_STALE_AFTER_MINUTES = 15
