"""The one object callers use: :class:`Store`, all database access, composed of the
parts of the store package (one per aggregate)."""

from __future__ import annotations

from monitor.store.articles import ArticleStore
from monitor.store.feeds import FeedStore
from monitor.store.hits import HitStore
from monitor.store.labels import LabelStore
from monitor.store.nearmiss import NearMissStore
from monitor.store.outbox import OutboxStore
from monitor.store.people import PeopleStore
from monitor.store.reading import ReadingStore
from monitor.store.retries import PageRetryStore
from monitor.store.review import ReviewStore
from monitor.store.runs import RunStore
from monitor.store.spikes import SpikeStore
from monitor.store.stories import StoryStore


class Store(
    FeedStore,
    ArticleStore,
    PageRetryStore,
    HitStore,
    NearMissStore,
    LabelStore,
    PeopleStore,
    OutboxStore,
    RunStore,
    ReadingStore,
    ReviewStore,
    StoryStore,
    SpikeStore,
):
    """All database access. Safe to share between threads; one per process.

    ``Store(url)`` opens (and, for a new database, creates) the database at ``url``;
    each group of methods lives with its tables: feeds and leases
    (:mod:`~monitor.store.feeds`), articles and sources (:mod:`~monitor.store.articles`),
    pages asked for again (:mod:`~monitor.store.retries`), hits and labels
    (:mod:`~monitor.store.hits`), near misses, labels on non-hits and all articles
    (:mod:`~monitor.store.nearmiss`), deliveries and route health
    (:mod:`~monitor.store.outbox`), runs (:mod:`~monitor.store.runs`), the desk's and
    review's queries (:mod:`~monitor.store.review`), stories (:mod:`~monitor.store.stories`).
    """
