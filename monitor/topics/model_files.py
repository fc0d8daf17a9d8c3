"""Where a topic's learned models are kept: no numpy, no spaCy.

:mod:`monitor.topics.model` (the models themselves) imports numpy and, through
:mod:`monitor.topics.text`, spaCy: ~50 MB in a process. The cycle's process reads only
when the active models last changed (:meth:`monitor.pipeline.workers.WorkerPool.shared`
restarts its workers when they did), so it imports the paths from here.
"""

from __future__ import annotations

import os
from pathlib import Path

from monitor.config.settings import data_dir


def models_dir() -> Path:
    """Where models live: ``$NEWSMON_MODELS`` or ``<data dir>/models``."""
    env = os.environ.get("NEWSMON_MODELS")
    return Path(env) if env else data_dir() / "models"


def model_path(topic_id: str, kind: str = "active", directory: Path | None = None) -> Path:
    return (directory or models_dir()) / f"{topic_id}.{kind}.json"
