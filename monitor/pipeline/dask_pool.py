"""Page analysis (extraction + classification) on a Dask cluster instead of local processes.

An :class:`~monitor.pipeline.pool.AnalysisPool`, as :class:`~monitor.pipeline.workers.WorkerPool`
is, for :func:`monitor.pipeline.cycle.run_cycle`:
the cycle's fetch loop, database and leases stay in the flow run's process; only the pure,
CPU-bound part is shipped to the cluster's workers: one Dask task per page (HTML in, text
and topic scores out), per large feed (bytes in, entries out: a pathological feed costs
a cluster worker, not the flow's fetch loop) and per article classified by its feed
summary (so the flow's process never loads spaCy). Each Dask worker process builds the
classifier once per set of topics and keeps it.

A Dask task cannot be killed: a page or feed that runs past its time limit becomes a
recorded error and the flow goes on; the task finishes (or not) on its worker.

Why not a Prefect task per batch on ``prefect_dask.DaskTaskRunner``: the process step's
inputs (a database engine, the open fetch loop, the page stream) cannot be pickled to
another machine, and a Prefect task per page costs more than the page (Prefect's
overhead is several ms per task: docs/performance.md). So this uses
``distributed.Client`` directly, and prefect-dask is not a dependency.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from typing import Any

from monitor.config import Config
from monitor.pipeline.jobs import (
    Analysis,
    FeedJob,
    FeedParse,
    PageJob,
    SummaryJob,
    SummaryVerdict,
    analyse,
    classify_summary,
    parse_feed_job,
)
from monitor.pipeline.pool import analyse_in_order

_classifiers: dict[str, Any] = {}
_lock = threading.Lock()


def _classifier(topics_json: str) -> Any:
    """On a Dask worker: the classifier for these topics, built once per process."""
    from monitor.topics.language import TopicConfig
    from monitor.topics.match import Classifier

    with _lock:
        clf = _classifiers.get(topics_json)
        if clf is None:
            clf = Classifier([TopicConfig.model_validate(t) for t in json.loads(topics_json)])
            _classifiers.clear()
            _classifiers[topics_json] = clf
    return clf


def analyse_remote(job: PageJob, topics_json: str) -> Analysis:
    """Runs on a Dask worker: extract and classify one page."""
    return analyse(job, _classifier(topics_json))


def summary_remote(job: SummaryJob, topics_json: str) -> SummaryVerdict:
    """Runs on a Dask worker: classify an article by its feed title and summary."""
    return classify_summary(job, _classifier(topics_json))


class DaskPool:
    """Analyses pages on the Dask cluster at ``address`` (``tcp://host:8786``)."""

    def __init__(self, address: str, config: Config) -> None:
        from distributed import Client

        self.client = Client(address, set_as_default=False, timeout=30)
        self.timeout_s = config.settings.extract.timeout_s
        self.parse_timeout_s = config.settings.fetch.parse_timeout_s
        self._topics = json.dumps(
            [t.model_dump(mode="json") for t in config.topics], sort_keys=True
        )
        self.workers = max(1, sum(self.client.nthreads().values()))
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.client.close()

    def _submit(self, fn: Any, *args: Any) -> Future[Any]:
        out: Future[Any] = Future()
        fut = self.client.submit(
            fn, *args, pure=False, key=f"newsmon-{fn.__name__}-{uuid.uuid4().hex}"
        )

        def done(f: Any) -> None:
            try:
                out.set_result(f.result())
            except BaseException as exc:  # noqa: BLE001 - the caller turns it into an error
                out.set_exception(exc)

        fut.add_done_callback(done)
        return out

    def submit(self, job: PageJob) -> Future[Analysis]:
        return self._submit(analyse_remote, job, self._topics)

    def submit_feed(self, job: FeedJob) -> Future[FeedParse]:
        return self._submit(parse_feed_job, job)

    def feed_outcome(self, key: Any, fut: Future[FeedParse]) -> FeedParse:
        try:
            return fut.result(timeout=self.parse_timeout_s)
        except TimeoutError:
            return FeedParse(
                key,
                None,
                f"feed parsing timed out after "
                f"{self.parse_timeout_s:.0f}s (on Dask; the task is abandoned)",
            )
        except Exception as exc:  # noqa: BLE001 - a feed must never stop the run
            return FeedParse(
                key, None, f"feed parsing on Dask failed: {type(exc).__name__}: {exc}"[:500], True
            )

    def submit_summary(self, job: SummaryJob) -> Future[SummaryVerdict]:
        return self._submit(summary_remote, job, self._topics)

    def outcome(self, key: str, fut: Future[Analysis]) -> Analysis:
        try:
            return fut.result(timeout=self.timeout_s * 4)
        except Exception as exc:  # noqa: BLE001 - a page must never stop the run
            return Analysis(key, None, f"analysis on Dask failed: {type(exc).__name__}: {exc}")

    def analyse_many(self, jobs: Iterable[PageJob]) -> Iterator[Analysis]:
        return analyse_in_order(self, jobs)
