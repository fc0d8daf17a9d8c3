"""Classification speed on extracted article text, next to the cost of tokenising it.

    .venv/bin/python benchmarks/topics_speed.py

The 181 pages of ``../shared/corpora/article-extraction-benchmark`` are extracted once
(trafilatura, not timed), then, in one process, each pass goes over every article:

- tokenise only: ``spacy.blank(lang).make_doc`` (the floor: no classifier can be
  faster than reading the tokens);
- analyse: tokens, their normalised text and the sentences (what classify does before
  it matches anything);
- classify: :meth:`monitor.classify.Classifier.classify` with every example topic
  loaded (``config/topics.yaml`` and ``benchmarks/reuters_topics.yaml``), rules only,
  evidence included.

The best of three passes is reported; the last line is
``RESULT classify_per_s=... tokenize_per_s=... topics=...``.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.classify import Classifier, pipeline  # noqa: E402
from monitor.config import TopicsFile, load_config, load_yaml_model  # noqa: E402
from monitor.extract import extract_html  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "article-extraction-benchmark"


def best_rate(fn: object, items: list[tuple[str, str, str | None]], passes: int = 3) -> float:
    best = 0.0
    for _ in range(passes):
        t0 = time.perf_counter()
        for title, text, lang in items:
            fn(title, text, lang)  # type: ignore[operator]
        best = max(best, len(items) / (time.perf_counter() - t0))
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args(argv)
    pages = sorted((args.corpus / "html").glob("*.html.gz"))
    if not pages:
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    items = []
    for p in pages:
        try:
            ex = extract_html(gzip.decompress(p.read_bytes()))
        except Exception:  # noqa: BLE001 - a page trafilatura cannot read is skipped
            continue
        items.append((ex.title, ex.text, ex.language))
    chars = sum(len(t) + len(x) for t, x, _ in items)
    langs = sorted({lang or "?" for _, _, lang in items})
    print(f"extracted {len(items)} of {len(pages)} pages in {time.perf_counter() - t0:.1f} s "
          f"(not timed below); {chars / len(items):.0f} characters per article; "
          f"languages {', '.join(langs)}")
    topics = load_config(ROOT / "config").topics + load_yaml_model(
        ROOT / "benchmarks" / "reuters_topics.yaml", TopicsFile).topics
    t0 = time.perf_counter()
    clf = Classifier(topics, models={})
    build = time.perf_counter() - t0
    n_terms = len(clf._index.terms)
    clf.classify(*items[0])  # warm the language pipelines

    def tokenize(title: str, text: str, lang: str | None) -> None:
        pipeline(lang or "en").make_doc(f"{title}.\n\n{text}")

    tok = best_rate(tokenize, items, args.passes)
    ana = best_rate(clf.analyse, items, args.passes)
    cls = best_rate(clf.classify, items, args.passes)
    print(f"{len(topics)} topics, {n_terms} terms, index built in {build:.2f} s; "
          f"one process, best of {args.passes} passes over {len(items)} articles:")
    print(f"  tokenise only           {tok:8.0f} articles/s   (the floor)")
    print(f"  analyse                 {ana:8.0f} articles/s   (tokens, normalised, sentences)")
    print(f"  classify, all topics    {cls:8.0f} articles/s   "
          f"({1000 / cls:.2f} ms per article, {1000 / cls - 1000 / tok:.2f} ms over tokenising)")
    print("target: >= 300 articles/s")
    print(f"RESULT classify_per_s={cls:.0f} tokenize_per_s={tok:.0f} topics={len(topics)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
