"""Feed credentials scrubbed: a feed configured as ``https://user:secret@host/feed``
used to leave ``user:secret@`` in article URLs and guids, entry keys and source links
(a relative link was resolved against the feed URL), and in the feed's moved-to URL.
Newer newsmon never stores them (the feed row holds the URL without them; the config
keeps them): this removes what older runs stored. A feed row whose own URL carries them
is renamed to the URL without them unless that row exists already (then the old row,
disabled since, keeps its URL: delete it with its history if you must).

Data only, no schema change. Written out, not imported from the live code's parser.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# scheme://userinfo@ - userinfo up to the first "/", "?" or "#" (RFC 3986 authority)
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")
_COLUMNS = {
    "article": ("url", "guid"),
    "articlesource": ("link", "entry_key"),
    "feed": ("fetch_url",),
}


def _strip(value: str | None) -> str | None:
    return _USERINFO.sub(r"\1", value) if value else value


def upgrade() -> None:
    bind = op.get_bind()
    src = sa.table("articlesource", sa.column("feed_id"), sa.column("entry_key"))
    keys = set(bind.execute(sa.select(src.c.feed_id, src.c.entry_key)).all())
    for table, cols in _COLUMNS.items():
        extra = [sa.column("feed_id")] if table == "articlesource" else []
        t = sa.table(table, sa.column("id"), *(sa.column(c) for c in cols), *extra)
        rows = bind.execute(
            sa.select(t).where(sa.or_(*(t.c[c].like("%://%@%") for c in cols)))
        ).all()
        for row in rows:
            new = {c: _strip(getattr(row, c)) for c in cols}
            if table == "articlesource" and new["entry_key"] != row.entry_key:
                if (row.feed_id, new["entry_key"]) in keys:
                    new["entry_key"] = row.entry_key  # (feed, key) is unique: keep this one
                else:
                    keys.add((row.feed_id, new["entry_key"]))
            if any(new[c] != getattr(row, c) for c in cols):
                bind.execute(sa.update(t).where(t.c.id == row.id).values(**new))
    feed = sa.table("feed", sa.column("id"), sa.column("url"))
    taken = {u for (u,) in bind.execute(sa.select(feed.c.url)).all()}
    for fid, url in bind.execute(
        sa.select(feed.c.id, feed.c.url).where(feed.c.url.like("%://%@%"))
    ).all():
        bare = _strip(url)
        if bare != url and bare not in taken:
            bind.execute(sa.update(feed).where(feed.c.id == fid).values(url=bare))
            taken.add(bare)


def downgrade() -> None:
    pass  # the credentials are gone for good, as they should be
