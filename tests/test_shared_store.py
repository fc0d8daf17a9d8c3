"""flows.cycle.shared_store: one Store (one engine) per database for the life of a process.

A long-lived serve runs the cycle flow every few minutes; a new engine per run was kept
alive by SQLAlchemy's statement caches (docs/performance.md, "Memory"). The flat-memory
test covers ``run_cycle``; this one covers the flow's own reuse of the store.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flows import cycle as flow_cycle


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flow_cycle, "_store", None)


def test_same_database_same_store_and_engine(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    first = flow_cycle.shared_store(url)
    assert flow_cycle.shared_store(url) is first
    assert flow_cycle.shared_store(url).engine is first.engine


def test_another_database_replaces_and_closes_the_old_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    first = flow_cycle.shared_store(a)
    closed: list[str] = []
    monkeypatch.setattr(first, "close", lambda: closed.append(first.url))
    second = flow_cycle.shared_store(b)
    assert second is not first and second.url == b
    assert closed == [a]  # the old engine is disposed, not left behind
    assert (tmp_path / "b.db").exists()
    assert flow_cycle.shared_store(b) is second
