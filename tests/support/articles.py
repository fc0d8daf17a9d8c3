"""A plain stored article for store and cycle tests: the fields the pipeline fills, with
nothing found in it."""

from __future__ import annotations

from monitor.store import NewArticle


def plain_article(url: str, feed_id: int | None = None) -> NewArticle:
    """An extracted English article at ``url`` with no hits, from ``feed_id`` if given."""
    return NewArticle(
        canonical_url=url,
        url=url,
        guid=None,
        title="t",
        summary="s",
        text="Body text.",
        author=None,
        published_at=None,
        published_source="first_seen",
        language="en",
        fingerprint=None,
        extraction="ok",
        extraction_error=None,
        sources=[(feed_id, url, url)] if feed_id is not None else [],
        hits=[],
    )
