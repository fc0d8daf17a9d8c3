"""Page analysis (extraction + classification) on a Dask cluster instead of local processes.

A drop-in for :class:`monitor.workers.WorkerPool` in :func:`monitor.pipeline.run_cycle`:
the cycle's fetch loop, database and leases stay in the flow run's process; only the pure,
CPU-bound part (HTML in, text and topic scores out) is shipped to the cluster's workers,
as one Dask task per page. Each Dask worker process builds the classifier once per set
of topics and keeps it.

Why not a Prefect task per batch on ``prefect_dask.DaskTaskRunner``: the process step's
inputs (a database engine, the open fetch loop, the page stream) cannot be pickled to
another machine, and a Prefect task per page costs more than the page (GUIDE: per-task
overhead). So this uses ``distributed.Client`` directly, and prefect-dask is not a
dependency.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from typing import Any

from monitor.config import Config
from monitor.workers import Analysis, PageJob, analyse, analyse_in_order

_classifiers: dict[str, Any] = {}
_lock = threading.Lock()


def analyse_remote(job: PageJob, topics_json: str) -> Analysis:
    """Runs on a Dask worker: the classifier for these topics, built once per process."""
    from monitor.classify import Classifier
    from monitor.config import TopicConfig

    with _lock:
        clf = _classifiers.get(topics_json)
        if clf is None:
            clf = Classifier([TopicConfig.model_validate(t) for t in json.loads(topics_json)])
            _classifiers.clear()
            _classifiers[topics_json] = clf
    return analyse(job, clf)


class DaskPool:
    """Analyses pages on the Dask cluster at ``address`` (``tcp://host:8786``)."""

    def __init__(self, address: str, config: Config) -> None:
        from distributed import Client

        self.client = Client(address, set_as_default=False, timeout=30)
        self.timeout_s = config.settings.extract.timeout_s
        self._topics = json.dumps([t.model_dump(mode="json") for t in config.topics],
                                  sort_keys=True)
        self.workers = max(1, sum(self.client.nthreads().values()))
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.client.close()

    def submit(self, job: PageJob) -> Future[Analysis]:
        out: Future[Analysis] = Future()
        fut = self.client.submit(analyse_remote, job, self._topics, pure=False,
                                 key=f"newsmon-analyse-{uuid.uuid4().hex}")

        def done(f: Any) -> None:
            try:
                out.set_result(f.result())
            except BaseException as exc:  # noqa: BLE001 - the outcome becomes an Analysis
                out.set_exception(exc)

        fut.add_done_callback(done)
        return out

    def outcome(self, key: str, fut: Future[Analysis]) -> Analysis:
        try:
            return fut.result(timeout=self.timeout_s * 4)
        except Exception as exc:  # noqa: BLE001 - a page must never stop the run
            return Analysis(key, None, f"analysis on Dask failed: {type(exc).__name__}: {exc}")

    def analyse_many(self, jobs: Iterable[PageJob]) -> Iterator[Analysis]:
        return analyse_in_order(self, jobs)
