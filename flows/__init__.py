"""Prefect flows and deployments. They only wire :mod:`monitor` together."""

import os

# Offline-friendly defaults, only where the user has not chosen: no telemetry calls (each
# start logs an error without network), more time than the 20 s default for the temporary
# server to start on a slow machine, newsmon's log records in Prefect's logs.
# docs/configuration.md lists them.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "newsmon")
