"""Databases for the review desk's tests: the real pipeline, then synthetic hits.

The pipeline over the demo world (loopback feeds and pages) stores the Caucasus hit
and 9 articles that are not hits, with real feeds, sources and sent alerts. Then
a few synthetic articles go through :meth:`Store.store_articles`, with evidence from
the real classifier: other topics, another language, a hostile title and links.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from monitor.alerts.routes import target_key
from monitor.config import Config, load_config
from monitor.demo.world import world
from monitor.pipeline.cycle import run_cycle
from monitor.store import Feed, Hit, NewArticle, Store
from monitor.topics.language import TopicConfig
from monitor.topics.match import Classifier

ROOT = Path(__file__).resolve().parents[2]
TOPICS = ROOT / "config" / "topics.yaml"
CAUCASUS_TITLE = "Pezeshkian visits Baku"
HOSTILE_TITLE = (
    '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    " Baku & Tehran sign a transit deal"
)
HOSTILE_ERROR = '<img src=x onerror="window.__pwned = 3">smtp refused'

SYNTHETIC = [
    # (key, title, text, language, feed index, days ago)
    (
        "hostile",
        HOSTILE_TITLE,
        "Azerbaijan and Iran signed a transit agreement in Baku on Monday. The North-South "
        "Transport Corridor and the Zangezur corridor were both on the table.",
        "en",
        0,
        0,
    ),
    (
        "shah-deniz",
        "Shah Deniz gas flows to Europe rise again",
        "Gas exports through the Southern Gas Corridor rose this month. SOCAR said the "
        "Shah Deniz field and TANAP carried more natural gas than a year ago, and the "
        "pipeline operators expect higher supply next winter.",
        "en",
        1,
        2,
    ),
    (
        "ru-tanap",
        "Поставки газа по TANAP выросли",
        "Экспорт газа по Southern Gas Corridor вырос. Оператор TANAP сообщил, что поставки "
        "газа в Европу увеличились, а газопровод работает на полную мощность.",
        "ru",
        2,
        1,
    ),
    (
        "fordow",
        "IAEA inspectors return to Fordow",
        "Iran allowed IAEA inspectors back into Fordow and Natanz, where enrichment of uranium "
        "continued. Iranian officials said the nuclear talks would resume.",
        "en",
        0,
        5,
    ),
    (
        "de-natanz",
        "Iran: IAEA-Inspektoren in Natanz",
        "Iran ließ IAEA-Inspektoren nach Natanz; die Anreicherung von uranium geht weiter. "
        "Iran und die IAEA sprechen über nuclear Fragen und Fordow.",
        "de",
        1,
        3,
    ),
]


def add_synthetic(store: Store, config: Config) -> dict[str, int]:
    """Store the synthetic articles; return hit ids by key."""
    clf = Classifier(config.topics)
    with store.session() as s:
        feeds = list(s.exec(select(Feed).order_by(Feed.id)).all())
    now = datetime.now(UTC)
    items = []
    for key, title, text, lang, feed_i, days in SYNTHETIC:
        results = [r for r in clf.classify(title, text) if r.matched]
        assert results, f"synthetic article {key!r} must be a hit"
        url = (
            "javascript:alert(document.domain)"
            if key == "hostile"
            else f"https://news.example.org/{key}"
        )
        items.append(
            NewArticle(
                canonical_url=f"https://news.example.org/{key}",
                url=url,
                guid=key,
                title=title,
                summary=text[:120],
                text=text,
                author=None,
                published_at=now - timedelta(days=days),
                published_source="feed",
                language=lang,
                fingerprint=None,
                extraction="ok",
                extraction_error=None,
                sources=[
                    (
                        feeds[feed_i].id or 0,
                        f"synthetic-{key}",
                        "javascript:alert(4)" if key == "hostile" else url,
                    )
                ],
                hits=[(r.topic, r.score, r.version, r.evidence) for r in results],
            )
        )

    def deliveries(topic: str, score: float, published: datetime | None) -> list[dict]:
        return [
            dict(
                route="analysts-email",
                target=target_key("mailto://x"),
                target_display="mailto://127.0.0.1/analyst",
                mode="instant",
                status="pending",
                attempts=0,
                created_at=now,
                next_attempt_at=now,
            )
        ]

    batch = store.store_articles(items, deliveries_for=deliveries)
    by_title = {title: (key, days) for key, title, _, _, _, days in SYNTHETIC}
    ids: dict[str, int] = {}
    with store.session(write=True) as s:
        for h in s.exec(select(Hit).where(Hit.id.in_(batch.hit_ids or []))).all():  # type: ignore[union-attr]
            key, days = by_title[store.article(h.article_id).title]
            ids.setdefault(key, h.id or 0)
            h.created_at = now - timedelta(days=days, minutes=1)  # spread over the chart
            s.add(h)
    hostile = ids["hostile"]
    dels = store.deliveries_for_hit(hostile)
    store.finish_deliveries(
        [d.id for d in dels if d.id],
        ok=False,
        error=HOSTILE_ERROR,
        retry_at=now + timedelta(minutes=5),
    )
    return ids


def build(directory: Path) -> Path:
    """Run the pipeline over the demo world into ``directory/desk.db``, add the rest."""
    global _TOPICS
    db = directory / "desk.db"
    with world(TOPICS, directory=directory) as w:
        config = load_config(w.config_dir)
        _TOPICS = list(config.topics)
        store = Store(f"sqlite:///{db}")
        summary = run_cycle(store, config)
        assert summary.feeds_failed == 0 and summary.hits_new >= 1, summary.errors
        add_synthetic(store, config)
        raw = store.engine.raw_connection()  # outside a transaction: copy one file later
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
        store.close()
    return db


_TEMPLATE: Path | None = None
_TOPICS: list[TopicConfig] = []


def desk_db(target_dir: Path) -> Path:
    """A fresh copy of the (once built) desk database in ``target_dir``."""
    global _TEMPLATE
    if _TEMPLATE is None:
        _TEMPLATE = build(Path(tempfile.mkdtemp(prefix="newsmon-desk-")))
    target_dir.mkdir(parents=True, exist_ok=True)
    out = target_dir / "desk.db"
    shutil.copyfile(_TEMPLATE, out)
    return out


def desk_topics() -> list[TopicConfig]:
    """The topics the desk database was made with (a copy of config/topics.yaml then)."""
    if _TEMPLATE is None:
        desk_db(Path(tempfile.mkdtemp(prefix="newsmon-desk-copy-")))
    return _TOPICS


def add_plain_hits(
    store: Store, n: int, topic: str = "bulk-topic", feed_id: int | None = None
) -> list[int]:
    """``n`` plain hits on ``topic`` (no evidence), newest last; their ids."""
    now = datetime.now(UTC)
    items = [
        NewArticle(
            canonical_url=f"https://bulk.example.org/{topic}/{i}",
            url=f"https://bulk.example.org/{topic}/{i}",
            guid=None,
            title=f"Bulk story {i} about {topic}",
            summary=f"Summary of bulk story {i}.",
            text=None,
            author=None,
            published_at=now,
            published_source="feed",
            language="en",
            fingerprint=None,
            extraction="summary",
            extraction_error=None,
            sources=[(feed_id, f"bulk-{topic}-{i}", f"https://bulk.example.org/{topic}/{i}")]
            if feed_id
            else [],
            hits=[(topic, 0.5 + i / (4 * n), "v1", {})],
        )
        for i in range(n)
    ]
    return list(store.store_articles(items).hit_ids or [])
