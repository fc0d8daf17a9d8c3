"""Articles and the feed entries they came from: stored once per story, in batches,
with their hits and the hits' outbox rows in the same transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import func, update
from sqlalchemy.engine import CursorResult
from sqlmodel import col, select

from monitor.errors import NotFound
from monitor.store.engine import StoreBase, chunks, utcnow
from monitor.store.models import Article, ArticleSource, Delivery, Feed, Hit
from monitor.store.nearmiss import FoundNearMiss, NearMiss, found_row, near_misses_become_hits
from monitor.store.retries import add_page_retries


@dataclass
class NewArticle:
    """An article ready to store, with what classification found."""

    canonical_url: str
    url: str
    guid: str | None
    title: str
    summary: str
    text: str | None
    author: str | None
    published_at: datetime | None
    published_source: str
    language: str | None
    fingerprint: str | None
    extraction: str
    extraction_error: str | None
    sources: list[tuple[int, str, str]]  # (feed_id, entry_key, link)
    hits: list[tuple[str, float, str, dict[str, Any]]]  # (topic_id, score, version, evidence)
    # stored without its page, which may be read later: ask for it again after this long
    page_retry_in_s: float | None = None
    # the topics it is no hit for but worth a look (monitor.topics.nearmiss)
    near_misses: list[FoundNearMiss] = field(default_factory=list)


@dataclass
class StoredBatch:
    articles_new: int = 0
    articles_merged: int = 0  # same story seen again (other feed, other URL)
    hits_new: int = 0
    hit_ids: list[int] | None = None
    article_ids: list[int] | None = None  # the articles this batch added


class ArticleStore(StoreBase):
    """Articles, their sources, and the batch that stores them with their hits."""

    def known_entry_keys(self, feed_id: int, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        with self.session() as s:
            q = (
                select(ArticleSource.entry_key)
                .where(ArticleSource.feed_id == feed_id)
                .where(col(ArticleSource.entry_key).in_(list(keys)))
            )
            return set(s.exec(q).all())

    def known_articles(self, canonical_urls: Sequence[str]) -> dict[str, int]:
        if not canonical_urls:
            return {}
        with self.session() as s:
            q = select(Article.canonical_url, Article.id).where(
                col(Article.canonical_url).in_(list(canonical_urls))
            )
            return {u: i for u, i in s.exec(q).all() if i is not None}

    def add_sources(self, rows: Sequence[tuple[int, int, str, str]]) -> int:
        """Link already-stored articles to more feed entries: (article, feed, key, link)."""
        now = utcnow()
        with self.session(write=True) as s:
            return len(
                self._insert_ignore(
                    s,
                    ArticleSource,
                    [
                        dict(article_id=a, feed_id=f, entry_key=k, link=link, seen_at=now)
                        for a, f, k, link in rows
                    ],
                    ["feed_id", "entry_key"],
                )
            )

    def store_articles(
        self,
        items: Sequence[NewArticle],
        deliveries_for: Callable[[str, float, datetime | None], list[dict[str, Any]]] | None = None,
    ) -> StoredBatch:
        """Store articles, their sources, hits and the hits' outbox rows in one transaction.

        Idempotent: an article, source, hit or delivery that exists is left alone.
        """
        out = StoredBatch(hit_ids=[], article_ids=[])
        if not items:
            return out
        now = utcnow()
        with self.session(write=True) as s:
            # A handful of statements per batch, not per article; the same decisions as
            # one article after the other (a later article of the batch that is the same
            # story as an earlier one - same URL or fingerprint - is merged into it).
            urls = list({it.canonical_url for it in items})
            stored: dict[str, int] = {}
            for chunk in chunks(urls, 500):
                stored.update(
                    (u, i)
                    for u, i in s.exec(
                        select(Article.canonical_url, Article.id).where(
                            col(Article.canonical_url).in_(chunk)
                        )
                    ).all()
                    if i is not None
                )
            fps = list(
                {
                    it.fingerprint
                    for it in items
                    if it.fingerprint and it.extraction == "ok" and it.canonical_url not in stored
                }
            )
            by_fp: dict[str, int] = {}
            for chunk in chunks(fps, 500):
                for fp, aid in s.exec(
                    select(Article.fingerprint, Article.id)
                    .where(col(Article.fingerprint).in_(chunk))
                    .order_by(col(Article.id))
                ).all():
                    if fp is not None and aid is not None:
                        by_fp.setdefault(fp, aid)
            # each item's article: an id, or the index of the item whose new row it joins
            target: list[int | tuple[int]] = []
            first_url: dict[str, int] = {}
            first_fp: dict[str, int] = {}
            new_items: list[int] = []
            for i, it in enumerate(items):
                aid = stored.get(it.canonical_url)
                if aid is None and it.fingerprint and it.extraction == "ok":
                    aid = by_fp.get(it.fingerprint)
                j = None
                if aid is None:
                    j = first_url.get(it.canonical_url)
                    if j is None and it.fingerprint and it.extraction == "ok":
                        j = first_fp.get(it.fingerprint)
                if aid is not None or j is not None:
                    out.articles_merged += 1
                    target.append(aid if aid is not None else (j,))  # type: ignore[arg-type]
                    continue
                first_url[it.canonical_url] = i
                if it.fingerprint:
                    first_fp.setdefault(it.fingerprint, i)
                new_items.append(i)
                target.append((i,))
            rows = [
                dict(
                    canonical_url=it.canonical_url,
                    url=it.url,
                    guid=it.guid,
                    title=it.title,
                    summary=it.summary,
                    text=it.text,
                    author=it.author,
                    published_at=it.published_at,
                    published_source=it.published_source,
                    language=it.language,
                    fingerprint=it.fingerprint,
                    extraction=it.extraction,
                    extraction_error=it.extraction_error,
                    first_seen_at=now,
                )
                for it in (items[i] for i in new_items)
            ]
            inserted: dict[str, int] = {}
            for chunk in chunks(rows, 200):
                inserted.update(
                    (u, aid)
                    for aid, u in self._insert_ignore(
                        s, Article, chunk, ["canonical_url"], Article.canonical_url
                    )
                )
            ids: dict[int, int] = {}
            for i in new_items:
                url = items[i].canonical_url
                if url in inserted:
                    ids[i] = inserted[url]
                    out.articles_new += 1
                    out.article_ids.append(ids[i])  # type: ignore[union-attr]
                else:  # a concurrent run stored it first
                    found = s.exec(select(Article.id).where(Article.canonical_url == url)).one()
                    assert found is not None
                    ids[i] = found
                    out.articles_merged += 1
            article_of = [t if isinstance(t, int) else ids[t[0]] for t in target]
            # The stored articles this batch adds to, locked as a hit's foreign key would
            # lock them, before any row is added: a label given on one at this moment
            # (mark_article) is waited for first, not deadlocked with.
            for chunk in chunks(sorted(set(article_of) - set(inserted.values())), 500):
                s.exec(
                    select(Article.id)
                    .where(col(Article.id).in_(chunk))
                    .order_by(col(Article.id))  # locked in id order (plans may scan in any)
                    .with_for_update(key_share=True)
                ).all()
            add_page_retries(
                s,
                self.dialect,
                [
                    dict(
                        article_id=ids[i],
                        url=items[i].url,
                        reason=(items[i].extraction_error or "no page")[:500],
                        attempts=0,
                        created_at=now,
                        next_at=now + timedelta(seconds=retry_s),
                    )
                    for i in new_items
                    if (retry_s := items[i].page_retry_in_s) is not None
                    and items[i].canonical_url in inserted
                ],
            )
            sources = [
                dict(article_id=aid, feed_id=f, entry_key=k, link=link, seen_at=now)
                for it, aid in zip(items, article_of, strict=True)
                for f, k, link in it.sources
            ]
            for chunk in chunks(sources, 500):
                self._insert_ignore(s, ArticleSource, chunk, ["feed_id", "entry_key"])
            hits = [
                dict(
                    article_id=aid,
                    topic_id=topic,
                    score=score,
                    topic_version=version,
                    evidence=evidence,
                    created_at=now,
                )
                for it, aid in zip(items, article_of, strict=True)
                for topic, score, version, evidence in it.hits
            ]
            new_hits: dict[tuple[int, str], int] = {}
            for chunk in chunks(hits, 200):
                for hid, aid, topic in self._insert_ignore(
                    s, Hit, chunk, ["article_id", "topic_id"], Hit.article_id, Hit.topic_id
                ):
                    new_hits[(aid, topic)] = hid
            near = [
                dict(found_row(n), article_id=aid, topic_id=n.topic, created_at=now)
                for it, aid in zip(items, article_of, strict=True)
                for n in it.near_misses
            ]
            for chunk in chunks(near, 200):
                self._insert_ignore(s, NearMiss, chunk, ["article_id", "topic_id"])
            # a near miss (an earlier article of the story, or labelled) that is now a
            # hit leaves the inbox, its label the hit's; "not a hit" is not alerted
            muted = near_misses_become_hits(s, new_hits)
            deliveries: list[dict[str, Any]] = []
            for it, aid in zip(items, article_of, strict=True):
                for topic, score, _, _ in it.hits:
                    hid = new_hits.pop((aid, topic), None)
                    if hid is None:
                        continue
                    out.hits_new += 1
                    out.hit_ids.append(hid)  # type: ignore[union-attr]
                    if deliveries_for is not None and (aid, topic) not in muted:
                        deliveries += [
                            dict(r, hit_id=hid)
                            for r in deliveries_for(topic, score, it.published_at)
                        ]
            by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for r in deliveries:
                by_keys.setdefault(tuple(sorted(r)), []).append(r)
            for group in by_keys.values():
                for chunk in chunks(group, 500):
                    self._insert_ignore(s, Delivery, chunk, ["hit_id", "route", "target"])
        return out

    def article(self, article_id: int) -> Article:
        with self.session() as s:
            a = s.get(Article, article_id)
            if a is None:
                raise NotFound(f"no article with id {article_id}")
            return a

    def articles_per_language(self, since: datetime | None = None) -> dict[str, int]:
        """How many stored articles arrived in each language (detected at extraction;
        ``""`` for those without one), most first; ``since``: first seen from then on."""
        with self.session() as s:
            q = select(Article.language, func.count()).group_by(col(Article.language))
            if since is not None:
                q = q.where(col(Article.first_seen_at) >= since)
            rows = [(lang or "", int(n)) for lang, n in s.exec(q).all()]
        out: dict[str, int] = {}
        for lang, n in rows:  # None and "" are both "unknown"
            out[lang] = out.get(lang, 0) + n
        return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))

    def article_sources(self, article_id: int) -> list[tuple[ArticleSource, Feed]]:
        with self.session() as s:
            q = (
                select(ArticleSource, Feed)
                .join(Feed, col(Feed.id) == col(ArticleSource.feed_id))
                .where(ArticleSource.article_id == article_id)
            )
            return [(a, f) for a, f in s.exec(q).all()]

    def prune_text(
        self, older_than_days: int, *, now: datetime | None = None, since: datetime | None = None
    ) -> int:
        """Drop the text of articles that hit nothing and are older than N days (an
        article labelled for a topic it did not hit keeps its text: training reads it).

        ``since``: only articles first seen at or after it - the cutoff of an earlier
        prune, before which every text is gone or kept for its hits or labels - so a
        prune reads the articles that aged past the cutoff since, not the whole history."""
        cutoff = (now or utcnow()) - timedelta(days=older_than_days)
        with self.session(write=True) as s:
            has_hit = select(Hit.id).where(col(Hit.article_id) == col(Article.id)).exists()
            labelled = (
                select(NearMiss.id)
                .where(col(NearMiss.article_id) == col(Article.id))
                .where(col(NearMiss.label).is_not(None))
                .exists()
            )
            stmt = (
                update(Article)
                .where(col(Article.first_seen_at) < cutoff)
                .where(col(Article.text).is_not(None))
                .where(~has_hit)
                .where(~labelled)
                .values(text=None, text_pruned_at=utcnow())
            )
            if since is not None:
                stmt = stmt.where(col(Article.first_seen_at) >= since)
            return int(cast("CursorResult[Any]", s.execute(stmt)).rowcount or 0)

    def recent_languages(self, limit: int = 1000) -> dict[str, int]:
        """How many of the last ``limit`` articles stored are in each language."""
        with self.session() as s:
            recent = (
                select(col(Article.language).label("language"))
                .order_by(col(Article.id).desc())
                .limit(limit)
                .subquery()
            )
            rows = s.exec(select(recent.c.language, func.count()).group_by(recent.c.language)).all()
        return {str(lang): int(n) for lang, n in rows if lang}

    def article_ids(self) -> list[int]:
        """Every stored article's id."""
        with self.session() as s:
            return [i for i in s.exec(select(Article.id)).all() if i is not None]
