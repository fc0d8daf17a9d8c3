"""When a topic's learned model was last trained, read from its model file."""

from __future__ import annotations

from datetime import UTC, datetime


def last_trained(topic_id: str) -> datetime | None:
    """When the topic's newest model (candidate or active) was trained, if the learning
    loop (monitor.topics.learn) has one; labels after that are the ones it has not used yet."""
    try:
        from monitor.topics.model import load_model, model_path
    except Exception:  # noqa: BLE001 - no learning loop here: the desk works without it
        return None
    newest = None
    for kind in ("candidate", "active"):
        try:
            trained = datetime.fromisoformat(load_model(model_path(topic_id, kind)).trained_at)
        except Exception:  # noqa: BLE001 - no model, or one we cannot read: not trained
            continue
        trained = trained if trained.tzinfo else trained.replace(tzinfo=UTC)
        newest = trained if newest is None or trained > newest else newest
    return newest
