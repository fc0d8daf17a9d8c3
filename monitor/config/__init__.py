"""Configuration: one typed object, loaded and validated once.

- :mod:`~monitor.config.settings`: the settings schema (``settings.yaml``, ``feeds.yaml``)
  and where newsmon keeps its state;
- :mod:`~monitor.config.load`: the config directory read into a :class:`Config`, with
  errors that name the file, the key and the problem;
- :mod:`~monitor.config.secrets`: secrets masked in logs, exposed ones warned about;
- :mod:`~monitor.config.run`: :class:`RunSettings`, what a command line chose (config
  directory, database, allow-list), built once and passed down - to flows too;
- :mod:`~monitor.config.edit`: feeds added to ``feeds.yaml`` (OPML import).

The topic rule language lives in :mod:`monitor.topics.language`, the alert routes in
:mod:`monitor.alerts.routes`, the fetch allow-list in :mod:`monitor.fetch.guard`.
"""

from monitor.config.edit import add_feeds, pause_feed, remove_feed
from monitor.config.load import Config, load_config, load_yaml_model
from monitor.config.run import ALLOW_HOSTS_ENV, CONFIG_ENV, DB_ENV, RunSettings
from monitor.config.settings import (
    MAX_PAGE_BYTES,
    AlertSettings,
    ExtractSettings,
    FeedConfig,
    FeedsFile,
    FetchSettings,
    RetentionSettings,
    Schedule,
    Settings,
    check_cron,
    data_dir,
    default_db_url,
)

__all__ = [
    "ALLOW_HOSTS_ENV",
    "CONFIG_ENV",
    "DB_ENV",
    "MAX_PAGE_BYTES",
    "AlertSettings",
    "Config",
    "ExtractSettings",
    "RunSettings",
    "FeedConfig",
    "FeedsFile",
    "FetchSettings",
    "RetentionSettings",
    "Schedule",
    "Settings",
    "add_feeds",
    "pause_feed",
    "remove_feed",
    "check_cron",
    "data_dir",
    "default_db_url",
    "load_config",
    "load_yaml_model",
]
