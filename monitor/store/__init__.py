"""Storage: feeds (+health), articles (+their sources), hits, alert deliveries, runs."""

from monitor.store.facade import (  # noqa: F401
    FTS_TABLE,
    Article,
    ArticleSource,
    Delivery,
    Feed,
    HealthAlert,
    Hit,
    HitFilter,
    HitPage,
    NewArticle,
    RouteHealth,
    Run,
    Store,
    StoredBatch,
    _make_engine,
    _pg_search_document,
    mask_db_url,
    parse_search,
    ping,
    utcnow,
)
