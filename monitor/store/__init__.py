"""Storage: the only package that speaks SQL (SQLModel / SQLAlchemy).

- :mod:`~monitor.store.engine`: the engine, transactions, dialect helpers;
- :mod:`~monitor.store.models`: the tables; :mod:`~monitor.store.search`: full-text search;
- one module per aggregate: :mod:`~monitor.store.feeds` (feeds, leases),
  :mod:`~monitor.store.articles` (articles, sources), :mod:`~monitor.store.retries`
  (pages asked for again), :mod:`~monitor.store.hits` (hits,
  labels), :mod:`~monitor.store.nearmiss` (near misses, labels on non-hits, all
  articles), :mod:`~monitor.store.outbox` (deliveries, route health, health alerts),
  :mod:`~monitor.store.runs`, :mod:`~monitor.store.review` (the desk's and review's
  queries);
- :mod:`~monitor.store.facade`: :class:`Store`, the one object that has them all;
- :mod:`~monitor.store.migrate` and ``migrations/``: schema versions (Alembic).
"""

from monitor.store.articles import NewArticle, StoredBatch
from monitor.store.engine import mask_db_url, utcnow
from monitor.store.facade import Store
from monitor.store.models import (
    Article,
    ArticleSource,
    Delivery,
    Feed,
    HealthAlert,
    Hit,
    PageRetry,
    RouteHealth,
    Run,
    Story,
    StoryArticle,
    TopicSpike,
)
from monitor.store.nearmiss import ArticleMark, FoundNearMiss, NearMiss
from monitor.store.retries import PendingPage, RecoveredPage
from monitor.store.review import HitFilter, HitPage
from monitor.store.stories import GroupInput, StoryTxn

__all__ = [
    "Article",
    "ArticleMark",
    "ArticleSource",
    "Delivery",
    "Feed",
    "FoundNearMiss",
    "GroupInput",
    "HealthAlert",
    "Hit",
    "HitFilter",
    "HitPage",
    "NearMiss",
    "NewArticle",
    "PageRetry",
    "PendingPage",
    "RecoveredPage",
    "RouteHealth",
    "Run",
    "Story",
    "StoryArticle",
    "Store",
    "StoredBatch",
    "StoryTxn",
    "TopicSpike",
    "mask_db_url",
    "utcnow",
]
