"""The artifacts: reading them fast (``fast``), the directory (``store``), the run index."""

import re
from pathlib import Path

#: Where ``check`` writes and ``report`` reads by default (here, so that the settings name it
#: without importing the store).
DEFAULT_ARTIFACTS_DIR = Path("artifacts/ops/chatwoot-health")

#: ``2026-11``: the directory of a month's files (UTC), so that a report lists only the months
#: of its window, however long the history kept beside them.
MONTH_DIR = re.compile(r"^\d{4}-(?:0[1-9]|1[0-2])$")
