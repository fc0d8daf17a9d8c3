"""When a topic's learned model was last trained, read from its model file once per
version of the file (a model is megabytes of JSON: never re-read on every page)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

_cache: dict[Path, tuple[tuple[int, int], datetime | None]] = {}
_lock = threading.Lock()


def _trained_at(path: Path) -> datetime | None:
    """The model at ``path``'s training time; cached by the file's mtime and size."""
    from monitor.topics.model import load_model

    try:
        st = path.stat()
    except OSError:
        return None
    key = (st.st_mtime_ns, st.st_size)
    with _lock:
        hit = _cache.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    try:
        trained: datetime | None = datetime.fromisoformat(load_model(path).trained_at)
    except Exception:  # noqa: BLE001 - a model we cannot read: not trained
        trained = None
    if trained is not None and trained.tzinfo is None:
        trained = trained.replace(tzinfo=UTC)
    with _lock:
        _cache[path] = (key, trained)
    return trained


def last_trained(topic_id: str) -> datetime | None:
    """When the topic's newest model (candidate or active) was trained, if the learning
    loop (monitor.topics.learn) has one; labels after that are the ones it has not used yet."""
    try:
        from monitor.topics.model import model_path
    except Exception:  # noqa: BLE001 - no learning loop here: the desk works without it
        return None
    newest = None
    for kind in ("candidate", "active"):
        trained = _trained_at(model_path(topic_id, kind))
        if trained is not None and (newest is None or trained > newest):
            newest = trained
    return newest
