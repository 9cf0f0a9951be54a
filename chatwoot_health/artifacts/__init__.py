"""The artifacts: reading them fast (``fast``), the directory (``store``), the run index."""

from pathlib import Path

#: Where ``check`` writes and ``report`` reads by default (here, so that the settings name it
#: without importing the store).
DEFAULT_ARTIFACTS_DIR = Path("artifacts/ops/chatwoot-health")
