"""Classification speed on extracted article text, next to the cost of tokenising it.

    .venv/bin/python benchmarks/topics_speed.py

The 181 pages of ``../shared/corpora/article-extraction-benchmark`` are extracted once
(trafilatura; that pass is timed per article for the cost ratio below), then, in one
process, each pass goes over every article:

- tokenise only: :func:`monitor.classify.tokenize`, spaCy's tokenizer of the article's
  language as classify calls it (the floor: no classifier can be faster than reading
  the tokens); next to it ``make_doc`` over the whole text, spaCy's plain call;
- analyse: tokens, their normalised text and the sentences (what classify does before
  it matches anything);
- classify: :meth:`monitor.classify.Classifier.classify` with every example topic
  loaded (``config/topics.yaml`` and ``benchmarks/reuters_topics.yaml``), rules only,
  evidence included.

First the very first pass of classify over these articles (nothing of them cached yet:
the figure for text never seen), then the best of three passes of each (spaCy's
tokenizer cache and the term index's token cache warm, as in a long-running worker
that has seen the stream's common words). The cost of classifying is also given as a
share of the cost of extracting (issue #5: under 10 %). The last line is
``RESULT classify_per_s=... tokenize_per_s=... topics=... classify_vs_extract=...``.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.classify import Classifier, pipeline, tokenize  # noqa: E402
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
    items = []
    extract_s = 0.0
    for p in pages:
        html = gzip.decompress(p.read_bytes())
        t0 = time.perf_counter()
        try:
            ex = extract_html(html)
        except Exception:  # noqa: BLE001 - a page trafilatura cannot read is skipped
            continue
        finally:
            extract_s += time.perf_counter() - t0
        items.append((ex.title, ex.text, ex.language))
    chars = sum(len(t) + len(x) for t, x, _ in items)
    langs = sorted({lang or "?" for _, _, lang in items})
    extract_per_s = len(pages) / extract_s
    print(f"extracted {len(items)} of {len(pages)} pages in {extract_s:.1f} s "
          f"({extract_per_s:.0f} pages/s, trafilatura + language detection, one pass); "
          f"{chars / len(items):.0f} characters per article; languages {', '.join(langs)}")
    topics = load_config(ROOT / "config").topics + load_yaml_model(
        ROOT / "benchmarks" / "reuters_topics.yaml", TopicsFile).topics
    t0 = time.perf_counter()
    clf = Classifier(topics, models={})
    build = time.perf_counter() - t0
    n_terms = len(clf._index.terms)
    for lang in {lang for _, _, lang in items}:
        clf.classify("warm up", "the language's pipeline is built once", lang)
    t0 = time.perf_counter()
    for it in items:
        clf.classify(*it)
    cold = len(items) / (time.perf_counter() - t0)

    def tokenize_only(title: str, text: str, lang: str | None) -> None:
        tokenize(pipeline(lang or "en"), f"{title}.\n\n{text}")

    def make_doc(title: str, text: str, lang: str | None) -> None:
        pipeline(lang or "en").make_doc(f"{title}.\n\n{text}")

    tok = best_rate(tokenize_only, items, args.passes)
    whole = best_rate(make_doc, items, args.passes)
    ana = best_rate(clf.analyse, items, args.passes)
    cls = best_rate(clf.classify, items, args.passes)
    share = extract_per_s / cls
    print(f"{len(topics)} topics, {n_terms} terms, index built in {build:.2f} s; one process")
    print(f"  classify, first pass     {cold:8.0f} articles/s   (text never seen before)")
    print(f"best of {args.passes} passes over {len(items)} articles:")
    print(f"  tokenise only            {tok:8.0f} articles/s   (the floor)")
    print(f"  spaCy make_doc, whole    {whole:8.0f} articles/s   (the plain call, for reference)")
    print(f"  analyse                  {ana:8.0f} articles/s   (tokens, normalised, sentences)")
    print(f"  classify, all topics     {cls:8.0f} articles/s   "
          f"({1000 / cls:.2f} ms per article, {1000 / cls - 1000 / tok:.2f} ms over tokenising)")
    print(f"  extraction               {extract_per_s:8.0f} pages/s      "
          f"(classify costs {share:.1%} of extracting; first pass {extract_per_s / cold:.1%})")
    print("target: >= 300 articles/s")
    print(f"RESULT classify_per_s={cls:.0f} tokenize_per_s={tok:.0f} topics={len(topics)} "
          f"classify_vs_extract={share:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
