"""What the cycle asks of a pool that analyses pages and parses large feeds: the
:class:`AnalysisPool` protocol, implemented by :class:`~monitor.pipeline.workers.WorkerPool`
(local worker processes) and :class:`~monitor.pipeline.dask_pool.DaskPool` (a Dask
cluster)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from typing import Any, Protocol, runtime_checkable

from monitor.pipeline.jobs import Analysis, FeedJob, FeedParse, PageJob, SummaryJob, SummaryVerdict


@runtime_checkable
class AnalysisPool(Protocol):
    """Runs jobs away from the cycle's thread, each under a time limit.

    Every ``submit*`` returns at once with a future; ``outcome`` and ``feed_outcome``
    turn a finished (or awaited) future into a result, a timeout or crash into a result
    with an error: a page or feed never stops the run. ``submit*`` raise RuntimeError
    once the pool is closed.
    """

    workers: int  # how many jobs run at once (the page stream keeps about 16 per worker)
    timeout_s: float  # a page's time limit

    @property
    def closed(self) -> bool: ...

    def close(self) -> None: ...

    def submit(self, job: PageJob) -> Future[Analysis]:
        """Queue one page: extraction, then classification."""
        ...

    def outcome(self, key: str, fut: Future[Analysis]) -> Analysis: ...

    def submit_feed(self, job: FeedJob) -> Future[FeedParse]:
        """Queue one large feed's parse, ahead of the pages."""
        ...

    def feed_outcome(self, key: Any, fut: Future[FeedParse]) -> FeedParse: ...

    def submit_summary(self, job: SummaryJob) -> Future[SummaryVerdict]:
        """Queue the classification of an article that has only its feed summary."""
        ...

    def analyse_many(self, jobs: Iterable[PageJob]) -> Iterator[Analysis]:
        """Every job's analysis, in job order."""
        ...


def analyse_in_order(pool: AnalysisPool, jobs: Iterable[PageJob]) -> Iterator[Analysis]:
    """Submit every job to ``pool`` (WorkerPool or DaskPool), then yield the outcomes in
    job order: the one loop both pools share."""
    futures = [(job, pool.submit(job)) for job in jobs]
    for job, fut in futures:
        yield pool.outcome(job.key, fut)
