"""Revision 0008 removes feed credentials that older runs stored (article URLs and
guids, entry keys and links, a feed's URL and moved-to URL), on a real SQLite file."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from monitor.store import NewArticle, Store, migrate
from monitor.store.engine import make_engine

SECRET = "s3cretpass"
FEED = f"https://reader:{SECRET}@news.example/feed"
LINK = f"https://reader:{SECRET}@news.example/story-1"


def test_upgrade_scrubs_stored_feed_credentials(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store(url)
    # what an older newsmon stored for a feed configured with credentials
    store.sync_feeds([SimpleNamespace(url=FEED, name="Desk", tags=[], interval_minutes=None)])
    (feed,) = store.feeds()
    feed.fetch_url = f"https://reader:{SECRET}@news.example/feed2"
    store.save_feed(feed)
    store.store_articles(
        [
            NewArticle(
                canonical_url="https://news.example/story-1",
                url=LINK,
                guid=LINK,
                title="t",
                summary="",
                text="...",
                author=None,
                published_at=None,
                published_source="feed",
                language="en",
                fingerprint=None,
                extraction="ok",
                extraction_error=None,
                sources=[(feed.id or 0, LINK, LINK)],
                hits=[],
            )
        ],
        lambda *a: [],
    )
    store.close()
    engine = make_engine(url)
    before = ScriptDirectory.from_config(migrate.alembic_config()).get_revision("0008")
    with engine.begin() as conn:  # as if made before revision 0008
        MigrationContext.configure(conn).stamp(
            ScriptDirectory.from_config(migrate.alembic_config()), before.down_revision
        )
    assert migrate.upgrade(engine)[1] == migrate.head()
    with engine.connect() as conn:
        dump = [
            str(row)
            for table in ("feed", "article", "articlesource")
            for row in conn.execute(text(f"SELECT * FROM {table}")).all()
        ]
    engine.dispose()
    assert SECRET not in "".join(dump) and "reader:" not in "".join(dump)
    assert any("https://news.example/story-1" in r for r in dump)
    store = Store(url)  # opens: the schema is current
    assert [f.url for f in store.feeds()] == ["https://news.example/feed"]
    store.close()
