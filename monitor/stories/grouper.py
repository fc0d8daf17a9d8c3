"""Where an article's story is decided: online grouping against the active stories.

Each article, in publication order, is compared with the few active stories that share
its rarest words or names (an inverted index, so the cost does not grow with the number
of stories); it joins the best one when the similarity clears a threshold that rises
with the time between them, and starts a story otherwise. Articles in a language the
story has not seen are compared on names, numbers and dates only, with a stricter bar:
merging two events is worse than missing a merge.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from monitor.stories.crowd import absorb_fragments, crowd_bar, event_margin, names_subject
from monitor.stories.dates import names_a_day_of
from monitor.stories.features import Article, Features, featurize
from monitor.stories.names import Gazetteer, entries_gazetteer, gazetteer_with_topics
from monitor.stories.undated import batch_order, undated_pick, within_window
from monitor.stories.vectors import cosine_without_kinds, index_terms, norm, top

STATE_VERSION = 1


@dataclass
class StorySettings:
    """The grouping knobs (docs/stories.md explains each)."""

    window_hours: float = 72.0  # a story takes articles this long after its last one
    text_chars: int = 1000  # how much of an article's text is read
    threshold: float = 0.30  # same-language similarity needed to join
    cross_threshold: float = 0.25  # names-only similarity needed across languages
    cross_min_shared: int = 3  # ... and this many shared name keys
    cross_key_support: float = 0.2  # a key the story holds at less than this share of
    # its heaviest key's weight counts in proportion across languages
    min_shared: int = 2  # shared words needed in one language
    cross_penalty_per_day: float = 0.2  # across languages time counts for more
    undated_gap_days: float = 2.5  # an undated article is held to the bar of 2.5 days away
    named_day_gap_days: float = 0.5  # ... or of half a day when its text names a day of it
    undated_lead: float = 1.2  # ... and joins the best story only this clearly (undated.py)
    undated_copy_bar: float = 0.9  # ... and a story without a time only as a copy of it
    bridge_margin: float = 0.05  # an article this far over two stories' bars merges them
    key_weight: float = 0.30  # share of names/numbers in the same-language score
    penalty_per_day: float = 0.10  # added to the threshold per day between them
    max_candidates: int = 15  # stories scored exactly per article
    index_terms: int = 8  # an article's rarest words used to find candidates
    max_postings: int = 200  # a word in more active stories finds none
    centroid_terms: int = 60  # words kept per story
    centroid_keys: int = 30  # keys kept per story
    idf_floor_docs: int = 100  # idf as if at least this many articles were seen
    crowd_sources: int = 15  # a story this many sources carry is a subject (0: none is)
    crowd_threshold: float = 0.15  # the bar for a headline without text to join one
    subject_share: float = 0.5  # a crowd's word this heavy is its subject (0: none is)
    crowd_passes: int = 3  # rounds of merging a batch's fragments into crowds

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> StorySettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in known})


@dataclass
class Story:
    """One event: its stable id, headline, when it was first and last seen, its
    articles, sources and languages."""

    id: str
    headline: str
    first_seen: datetime | None
    last_seen: datetime | None
    articles: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    # Words per language (a Russian centroid must not dilute the English one), and the
    # language-independent keys.
    terms: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    keys: dict[str, float] = field(default_factory=dict, repr=False)
    headline_score: float = field(default=0.0, repr=False)
    tnorm: dict[str, float] = field(default_factory=dict, repr=False)
    knorm: float = field(default=0.0, repr=False)
    # Stories a person split from this one: never merged with it again.
    apart: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("first_seen", "last_seen"):
            d[k] = d[k].isoformat() if d[k] else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Story:
        d = dict(d)
        for k in ("first_seen", "last_seen"):
            d[k] = datetime.fromisoformat(d[k]) if d.get(k) else None
        return cls(**d)


@dataclass(frozen=True)
class Assignment:
    article_id: str
    story_id: str
    new_story: bool
    score: float


def story_id_for(article_id: str) -> str:
    """A story's id comes from its first article: the same founder gives the same id in
    every run, so two runs that start the same story agree on its name."""
    return "s" + hashlib.sha1(article_id.encode("utf-8")).hexdigest()[:15]


def host_of(url: str) -> str:
    """The source of an article: its host, without ``www.``; with the port when the URL
    names one (two servers on one address are two sources)."""
    try:
        parts = urlsplit(url)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return ""
    host = host[4:] if host.startswith("www.") else host
    return f"{host}:{port}" if port and host else host


class Grouper:
    """Online story grouping with serialisable state (``to_state`` / ``from_state``)."""

    def __init__(
        self, settings: StorySettings | None = None, *, gazetteer: Gazetteer | None = None
    ) -> None:
        self.settings = settings or StorySettings()
        self.gazetteer = gazetteer or entries_gazetteer()
        self.stories: dict[str, Story] = {}
        self.aliases: dict[str, str] = {}  # merged-away story -> the one it joined
        self.df: Counter[str] = Counter()  # articles seen per word or key
        self.n_docs = 0
        self.index: dict[str, set[str]] = {}  # word or key -> active stories holding it
        self.urls: dict[str, str] = {}  # article URL -> story
        self.clock: datetime | None = None  # the latest article time seen
        self.retired: list[Story] = []  # left the window since the last take

    # --- construction ------------------------------------------------------------------

    @classmethod
    def with_topics(
        cls, topics_yaml: dict[str, Any] | None, settings: StorySettings | None = None
    ) -> Grouper:
        """A grouper whose name keys also know the topics' per-language terms."""
        return cls(settings, gazetteer=gazetteer_with_topics(topics_yaml))

    # --- the decision ------------------------------------------------------------------

    def add_batch(self, articles: Iterable[Article]) -> list[Assignment]:
        """Group a batch: word statistics from the whole batch first, then each article
        in publication order. Returns one assignment per article, in that order."""
        ordered = batch_order(articles)
        feats = [featurize(a, self.gazetteer, text_chars=self.settings.text_chars) for a in ordered]
        for f in feats:
            self.df.update(set(f.terms) | set(f.keys))
        self.n_docs += len(feats)
        for f in feats:
            self._promote(f)
        out = [self._assign(a, f) for a, f in zip(ordered, feats, strict=True)]
        # The aggregator's grain (crowd.py): headline-only stories started here join a crowd.
        absorb_fragments(self, [a.story_id for a in out if a.new_story], ordered)
        return out

    def add(self, article: Article) -> Assignment:
        """Group one article (a batch of one)."""
        return self.add_batch([article])[0]

    def seed_story(self, art: Article) -> Story:
        """Start a story from an article without looking for one to join: for loading
        stories kept elsewhere, and for filling a grouper in benchmarks."""
        f = featurize(art, self.gazetteer, text_chars=self.settings.text_chars)
        self.df.update(set(f.terms) | set(f.keys))
        self.n_docs += 1
        self._promote(f)
        if art.published and (self.clock is None or art.published > self.clock):
            self.clock = art.published
        return self._start(art, f, self._vector(f.terms), self._vector(f.keys), art.published)

    def story_from(self, articles: Iterable[Article], story_id: str) -> Story:
        """One story made of exactly these articles, under ``story_id`` (a correction by
        hand: a split); it looks for no other story to join."""
        ordered = batch_order(articles)
        if not ordered:
            raise ValueError("a story needs at least one article")
        st = self.seed_story(ordered[0])
        for art in ordered[1:]:
            f = featurize(art, self.gazetteer, text_chars=self.settings.text_chars)
            self.df.update(set(f.terms) | set(f.keys))
            self.n_docs += 1
            self._promote(f)
            tvec, kvec = self._vector(f.terms), self._vector(f.keys)
            self._join(st, art, f, tvec, kvec, art.published, 1.0)
        if st.id != story_id:
            self.stories[story_id] = self.stories.pop(st.id)
            for posting in self.index.values():
                if st.id in posting:
                    posting.discard(st.id)
                    posting.add(story_id)
            st.id = story_id
        return st

    def _promote(self, f: Features) -> None:
        """Weak keys (Persian, Arabic... words) that some capitalised name shares."""
        for k, c in f.weak_keys.items():
            if self.df.get(k):
                f.keys[k] += c

    def _idf(self, term: str) -> float:
        n = max(self.n_docs, self.settings.idf_floor_docs)
        return math.log((n + 1) / (self.df.get(term, 0) + 1))

    def _vector(self, counts: Counter[str]) -> dict[str, float]:
        vec = {}
        for t, c in counts.items():
            w = (1.0 + math.log(c)) * self._idf(t)
            if w > 0:
                vec[t] = w
        length = norm(vec)
        return {t: v / length for t, v in vec.items()} if length else {}

    def _assign(self, art: Article, f: Features) -> Assignment:
        s = self.settings
        # An undated article meets stories of any age, by undated.py's rules (the
        # pipeline gives fetch time instead).
        when = art.published
        if art.published and (self.clock is None or art.published > self.clock):
            self.clock = art.published
        tvec = self._vector(f.terms)
        kvec = self._vector(f.keys)
        # The same URL is the same report, whatever its text became.
        if art.url and art.url in self.urls:
            sid = self.resolve(self.urls[art.url])
            if sid in self.stories:
                self._join(self.stories[sid], art, f, tvec, kvec, when, 1.0)
                return Assignment(art.id, sid, False, 1.0)
        headline_only = not art.text.strip()
        scored = [
            (
                *self._similarity(
                    tvec, kvec, f.language, st, when, f.dates, headline_only=headline_only
                ),
                st,
            )
            for st in self._candidates(tvec, kvec, when)
        ]
        passed = (
            [
                (score - bar, score, st, event_margin(s, st, score - bar, headline_only))
                for score, bar, st in scored
                if score >= bar  # the event-level margin as scored: joins may crowd it
            ]
            if when is not None
            else [
                (m, sc, st, m)
                for m, sc, st in undated_pick(
                    scored, f.dates, s.undated_lead, s.window_hours, s.undated_copy_bar, f.language
                )
            ]
        )
        if passed:
            passed.sort(key=lambda x: (-x[0], x[2].id))
            _, best_score, best, best_margin = passed[0]
            self._join(best, art, f, tvec, kvec, when, best_score)
            # An article that clearly belongs to two stories shows they are one event
            # (often the same event reported in two languages, met only now).
            # An undated article cannot tell a story of 2022 from one of 2025: it does
            # not bridge, and no bridge spans more than the window.
            for _, _, other, margin in passed[1:] if when is not None else ():
                if (
                    min(best_margin, margin) >= s.bridge_margin
                    and other.id in self.stories
                    and within_window(best, other, s.window_hours)
                ):
                    keep, drop = sorted([best, other], key=_age)
                    self.merge(keep.id, drop.id)
                    best = self.stories[self.resolve(best.id)]
            return Assignment(art.id, best.id, False, best_score)
        st = self._start(art, f, tvec, kvec, when)
        return Assignment(art.id, st.id, True, 0.0)

    def _similarity(
        self,
        tvec: dict[str, float],
        kvec: dict[str, float],
        lang: str,
        st: Story,
        when: datetime | None,
        dates: frozenset[tuple[int, int]] = frozenset(),
        *,
        headline_only: bool = False,
        subject: frozenset[str] = frozenset(),
    ) -> tuple[float, float]:
        """(score, the bar it must clear) of an article against a story; a headline
        without text meets a crowded story at the crowd's bar, and one shared word of
        ``subject`` suffices when it is the crowd's subject (crowd.py)."""
        s = self.settings
        gap_days = s.undated_gap_days if when is None else 0.0
        if when is None and dates and names_a_day_of(dates, st.first_seen, st.last_seen):
            # An undated article that names a day of the story ("on August 18") is placed
            # in its time as well as a date line would place it.
            gap_days = s.named_day_gap_days
        if when is not None and st.last_seen is not None and st.first_seen is not None:
            if when > st.last_seen:
                gap_days = (when - st.last_seen).total_seconds() / 86400
            elif when < st.first_seen:
                gap_days = (st.first_seen - when).total_seconds() / 86400
        best = (0.0, 1.0)
        terms = st.terms.get(lang)
        if terms:
            shared, dot = 0, 0.0
            for t, w in tvec.items():
                c = terms.get(t)
                if c is not None:
                    shared += 1
                    dot += w * c
            if shared >= s.min_shared or (
                subject and shared and names_subject(s, st, terms, subject)
            ):
                # Kinds of event are for crossing languages: within one, the words
                # ("talks") already count, and counted twice they pulled every analysis
                # of a round of talks into the round's story.
                s_key = cosine_without_kinds(kvec, st.keys)
                score = (1 - s.key_weight) * dot / st.tnorm[lang] + s.key_weight * s_key
                bar = s.threshold + s.penalty_per_day * gap_days
                best = (score, crowd_bar(s, st, bar) if headline_only else bar)
        if terms:  # the story speaks the article's language: its words have decided
            return best
        return self._names_score(kvec, st, when, gap_days)

    def _names_score(
        self, kvec: dict[str, float], st: Story, when: datetime | None, gap_days: float
    ) -> tuple[float, float]:
        s = self.settings
        # Across languages: how much of the article's name mass the story holds. Cosine
        # would punish a story for having gathered names in many languages. A key the
        # story holds only in passing (one article's sentence-initial "Ruski", whose
        # skeleton is Herzog's) holds that share of the mass only in proportion.
        shared, held = 0, []
        for k, w in kvec.items():
            c = st.keys.get(k)
            if c is not None:
                held.append((w * w, c))
                if not k.startswith(("#", "W:")):  # numbers and kinds of event are no names
                    shared += 1
        if shared < s.cross_min_shared:  # most candidates: the story's weights not needed
            return 0.0, 1.0
        full = max(st.keys.values()) * s.cross_key_support
        mass = sum(w2 if c >= full else w2 * c / full for w2, c in held)
        return mass, s.cross_threshold + s.cross_penalty_per_day * gap_days

    def _candidates(
        self, tvec: dict[str, float], kvec: dict[str, float], when: datetime | None
    ) -> list[Story]:
        s = self.settings
        cutoff = when - timedelta(hours=s.window_hours) if when else None
        votes: dict[str, float] = {}
        probes = list(heapq.nlargest(s.index_terms, tvec.items(), key=lambda kv: kv[1]))
        probes += heapq.nlargest(s.index_terms, kvec.items(), key=lambda kv: kv[1])
        get = votes.get
        for term, w in probes:
            posting = self.index.get(term)
            # A word held by very many active stories finds none of them in particular.
            if not posting or len(posting) > s.max_postings:
                continue
            for sid in posting:
                votes[sid] = get(sid, 0.0) + w
        out = []
        # Ties broken by id: postings are sets, whose order differs between processes,
        # and which stories are scored must not.
        negated = zip([-v for v in votes.values()], votes, strict=True)
        ranked = [sid for _, sid in heapq.nsmallest(s.max_candidates * 2, negated)]
        for sid in ranked:
            st = self.stories.get(sid)
            if st is None:
                continue
            if cutoff is not None and st.last_seen is not None and st.last_seen < cutoff:
                continue
            out.append(st)
            if len(out) >= s.max_candidates:
                break
        return out

    # --- story state -------------------------------------------------------------------

    def _start(
        self,
        art: Article,
        f: Features,
        tvec: dict[str, float],
        kvec: dict[str, float],
        when: datetime | None,
    ) -> Story:
        sid = story_id_for(art.id)
        while sid in self.stories or sid in self.aliases:  # a re-used article id
            sid = story_id_for(sid)
        st = Story(id=sid, headline=art.title, first_seen=when, last_seen=when)
        self.stories[sid] = st
        self._join(st, art, f, tvec, kvec, when, 0.0, new=True)
        return st

    def _join(
        self,
        st: Story,
        art: Article,
        f: Features,
        tvec: dict[str, float],
        kvec: dict[str, float],
        when: datetime | None,
        score: float,
        new: bool = False,
    ) -> None:
        s = self.settings
        st.articles.append(art.id)
        host = host_of(art.url)
        if host and host not in st.sources:
            st.sources.append(host)
        if f.language and f.language not in st.languages:
            st.languages.append(f.language)
        if when is not None:
            st.first_seen = min(st.first_seen or when, when)
            st.last_seen = max(st.last_seen or when, when)
        lang = f.language
        terms = st.terms.setdefault(lang, {})
        for t, w in tvec.items():
            terms[t] = terms.get(t, 0.0) + w
        for k, w in kvec.items():
            st.keys[k] = st.keys.get(k, 0.0) + w
        st.terms[lang] = terms = top(terms, s.centroid_terms)
        st.keys = top(st.keys, s.centroid_keys)
        st.tnorm[lang], st.knorm = norm(terms), norm(st.keys)
        # The headline is the title nearest the story's centre.
        hscore = sum(w * terms.get(t, 0.0) for t, w in self._vector(f.title_terms).items())
        if new or hscore > st.headline_score * (len(st.articles) - 1) / len(st.articles):
            st.headline, st.headline_score = art.title, hscore
        for t in index_terms(tvec, kvec, s.index_terms):
            self.index.setdefault(t, set()).add(st.id)
        if art.url:
            self.urls[art.url] = st.id

    def resolve(self, story_id: str) -> str:
        """The story an id now stands for (after merges)."""
        seen = 0
        while story_id in self.aliases and seen < 100:
            story_id = self.aliases[story_id]
            seen += 1
        return story_id

    def merge(self, keep: str, drop: str) -> Story:
        """Merge story ``drop`` into ``keep`` (a correction by hand, or two runs that
        started the same event). ``drop`` stays resolvable as an alias."""
        keep, drop = self.resolve(keep), self.resolve(drop)
        if keep == drop or self.kept_apart(keep, drop):
            return self.stories[keep]
        a, b = self.stories[keep], self.stories.pop(drop)
        a.apart += [x for x in b.apart if x not in a.apart]
        a.articles += [x for x in b.articles if x not in a.articles]
        a.sources += [x for x in b.sources if x not in a.sources]
        a.languages += [x for x in b.languages if x not in a.languages]
        times = [t for t in (a.first_seen, b.first_seen) if t]
        a.first_seen = min(times) if times else None
        times = [t for t in (a.last_seen, b.last_seen) if t]
        a.last_seen = max(times) if times else None
        for lang, bt in b.terms.items():
            at = a.terms.setdefault(lang, {})
            for t, w in bt.items():
                at[t] = at.get(t, 0.0) + w
            a.terms[lang] = top(at, self.settings.centroid_terms)
            a.tnorm[lang] = norm(a.terms[lang])
        for k, w in b.keys.items():
            a.keys[k] = a.keys.get(k, 0.0) + w
        a.keys = top(a.keys, self.settings.centroid_keys)
        a.knorm = norm(a.keys)
        for t in [t for bt in b.terms.values() for t in bt] + list(b.keys):
            posting = self.index.get(t)
            if posting is not None:
                posting.discard(drop)
                posting.add(keep)
        self.aliases[drop] = keep  # URLs that named `drop` resolve through the alias
        return a

    def kept_apart(self, a: str, b: str) -> bool:
        """True when a person split these two stories apart (they stay two)."""
        sa, sb = self.stories.get(self.resolve(a)), self.stories.get(self.resolve(b))
        if sa is None or sb is None:
            return False
        return any(self.resolve(x) == sb.id for x in sa.apart) or any(
            self.resolve(x) == sa.id for x in sb.apart
        )

    def reconcile(self, story_ids: Iterable[str]) -> list[tuple[str, str]]:
        """Merge each given story into an older active story it matches by the same rule
        an article would. For two runs that grouped at the same time: each calls this with
        the stories the other started. Returns (kept, dropped) pairs."""
        merged = []
        for sid in list(story_ids):
            sid = self.resolve(sid)
            st = self.stories.get(sid)
            if st is None:
                continue
            lang = st.languages[0] if st.languages else ""
            tn = st.tnorm.get(lang)
            tvec = {t: w / tn for t, w in st.terms.get(lang, {}).items()} if tn else {}
            kvec = {k: w / st.knorm for k, w in st.keys.items()} if st.knorm else {}
            best, best_margin = None, 0.0
            for other in self._candidates(tvec, kvec, st.first_seen):
                if other.id == sid:
                    continue
                score, bar = self._similarity(tvec, kvec, lang, other, st.first_seen)
                if score >= bar and (best is None or score - bar > best_margin):
                    best, best_margin = other, score - bar
            if best is not None:
                keep, drop = sorted([best, st], key=_age)
                self.merge(keep.id, drop.id)
                merged.append((keep.id, drop.id))
        return merged

    def absorb(self, stories: Iterable[Story | dict[str, Any]]) -> list[tuple[str, str]]:
        """Take in stories another run started (from its ``to_state()["stories"]``) and
        merge each into a matching story here. Returns the (kept, dropped) merges."""
        new: list[str] = []
        for d in stories:
            st = d if isinstance(d, Story) else Story.from_dict(d)
            sid = self.resolve(st.id)
            if sid in self.stories:
                continue
            self.stories[st.id] = st
            flat = {t: w for tt in st.terms.values() for t, w in tt.items()}
            for t in index_terms(flat, st.keys, self.settings.index_terms * 2):
                self.index.setdefault(t, set()).add(st.id)
            new.append(st.id)
        return self.reconcile(new)

    def expire(self, now: datetime | None = None) -> list[Story]:
        """Drop stories idle longer than the window from memory (the store keeps them);
        returns them."""
        now = now or self.clock
        if now is None:
            return []
        cutoff = now - timedelta(hours=self.settings.window_hours)
        gone = [
            st for st in self.stories.values() if st.last_seen is not None and st.last_seen < cutoff
        ]
        for st in gone:
            del self.stories[st.id]
            for t in [t for tt in st.terms.values() for t in tt] + list(st.keys):
                posting = self.index.get(t)
                if posting is not None:
                    posting.discard(st.id)
                    if not posting:
                        del self.index[t]
        gone_ids = {st.id for st in gone}
        self.urls = {u: s for u, s in self.urls.items() if s not in gone_ids}
        self.retired += gone
        return gone

    def story_of(self, story_id: str) -> Story | None:
        return self.stories.get(self.resolve(story_id))

    def __iter__(self) -> Iterator[Story]:
        return iter(self.stories.values())

    # --- persistence -------------------------------------------------------------------

    def to_state(self, *, min_df: int = 2) -> dict[str, Any]:
        """Everything needed to carry on later, as JSON-able data. Words seen once are
        dropped from the statistics (they are most of the vocabulary and matter least)."""
        return {
            "version": STATE_VERSION,
            "settings": asdict(self.settings),
            "n_docs": self.n_docs,
            "df": {t: c for t, c in self.df.items() if c >= min_df},
            "clock": self.clock.isoformat() if self.clock else None,
            "stories": [st.to_dict() for st in self.stories.values()],
            "aliases": dict(self.aliases),
            "urls": dict(self.urls),
        }

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        *,
        gazetteer: Gazetteer | None = None,
        settings: StorySettings | None = None,
    ) -> Grouper:
        """A grouper that carries on from ``to_state``'s data (the active window)."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"story state version {state.get('version')!r} is not {STATE_VERSION}")
        g = cls(settings or StorySettings.from_dict(state.get("settings")), gazetteer=gazetteer)
        g.n_docs = int(state.get("n_docs", 0))
        g.df = Counter(state.get("df") or {})
        g.clock = datetime.fromisoformat(state["clock"]) if state.get("clock") else None
        g.aliases = dict(state.get("aliases") or {})
        g.urls = dict(state.get("urls") or {})
        for d in state.get("stories") or []:
            st = Story.from_dict(d)
            g.stories[st.id] = st
            for t in index_terms(
                {t: w for tt in st.terms.values() for t, w in tt.items()},
                st.keys,
                g.settings.index_terms * 2,
            ):
                g.index.setdefault(t, set()).add(st.id)
        return g


def _age(st: Story) -> tuple[datetime, str]:
    return (st.first_seen or datetime.max.replace(tzinfo=UTC), st.id)
