"""The ``newsmon`` command: a thin shell over the library (sqlite-utils style), and with
the demo runner the only part of ``monitor`` that starts flows (:mod:`flows`).

- :mod:`~monitor.cli.app`: the Typer apps, shared options, the run's settings
  (:class:`~monitor.config.RunSettings`), output helpers, and :func:`main`, which turns
  library errors into one line;
- one module per command group: :mod:`~monitor.cli.run` (run, serve, digest),
  :mod:`~monitor.cli.feeds`, :mod:`~monitor.cli.hits`, :mod:`~monitor.cli.alerts`
  (alerts, status), :mod:`~monitor.cli.topics` (topics, extract),
  :mod:`~monitor.cli.articles` (articles, topics near-misses), :mod:`~monitor.cli.stories`,
  :mod:`~monitor.cli.config`, :mod:`~monitor.cli.db`, :mod:`~monitor.cli.web`,
  :mod:`~monitor.cli.demo`.
"""

# Imported for their commands, in the order --help lists them.
from monitor.cli import run, demo, feeds, hits, alerts, topics, stories, config, web, db, users  # noqa: F401, I001
from monitor.cli import topics_coverage, topics_new, topics_suggest  # noqa: F401
from monitor.cli import articles  # noqa: F401
from monitor.cli.app import app, main

__all__ = ["app", "main"]
