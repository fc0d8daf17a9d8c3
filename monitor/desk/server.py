"""Running the review desk: checks, the search index, then uvicorn."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from monitor.config import Config
from monitor.desk.security import check_bind
from monitor.store import Store, mask_db_url
from monitor.topics.language import TopicConfig

log = logging.getLogger("newsmon.web")


def serve(
    store: Store,
    topics: Sequence[TopicConfig] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    config_problem: str | None = None,
    echo: Callable[[str], None] = print,
    behind_https: bool = False,
    config: Config | None = None,
    job_timeout: float | None = None,
) -> None:
    """Serve the desk until interrupted. Refuses a non-loopback ``host`` without a token."""
    import uvicorn

    from monitor.desk.app import create_app

    accounts = store.has_users()
    check_bind(host, token, accounts=accounts)
    store.ensure_indexes()  # a database from before the desk gets its search index once
    app = create_app(
        store,
        topics,
        token=token,
        config_problem=config_problem,
        behind_https=behind_https,
        config=config,
        job_timeout=job_timeout,
    )
    shown = f"[{host}]" if ":" in host else host
    echo(
        f"newsmon review desk on http://{shown}:{port}/  (database {mask_db_url(store.url)}; "
        f"{'login required' if token or accounts else 'no login: loopback only'}; Ctrl-C stops)"
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
