"""Prefect flows and deployments. They only wire :mod:`monitor` together."""

import os

# Offline-friendly defaults, only where the user has not chosen (see GUIDE: Prefect 3).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "newsmon")
