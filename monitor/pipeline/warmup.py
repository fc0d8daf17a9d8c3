"""Imported by the worker pool's forkserver only, never by the main process.

It loads what every extraction worker needs - trafilatura, spaCy's blank pipeline and
the language-identification model (about 75 MB) - once, before the workers are forked,
so they share those pages instead of each loading a copy of its own.

Also built here, because every worker would otherwise build its own copy within its
first pages (``benchmarks/memory.py workers`` shows where a worker grows):

- justext's stoplist of every language (trafilatura's fallback extractor uses it for
  pages whose language it is not told: ~150,000 words, ~27 MB as a tuple and the
  frozenset justext caches of it);
- the spaCy pipelines of the languages whose tokenizer exceptions are large
  (:data:`SHARED_LANGUAGES`; the others cost a worker 0-4 MB each).

Then ``gc.freeze()``: the objects made so far are left out of every later garbage
collection, so a worker's full collection does not write to their headers and copy
the pages it shares with the forkserver into its own memory.
"""

import gc

from monitor.extract.article import detect_language, extract_html
from monitor.topics.text import pipeline

# What a pipeline costs a worker the first time it meets the language (MB of its own
# memory; benchmarks/memory.py languages, spaCy 3.8): id 48, fr 34, ms 32, nl 12;
# every other language 4 or less. English is the default pipeline.
SHARED_LANGUAGES = ("en", "id", "fr", "ms", "nl")

detect_language("The language identification model is loaded once, in the forkserver.")
for _lang in SHARED_LANGUAGES:
    pipeline(_lang)


def _justext_stoplist() -> None:
    from justext.core import define_stoplist
    from trafilatura import external

    define_stoplist(external.JT_STOPLIST or external.jt_stoplist_init())


_justext_stoplist()
# One small page through trafilatura: the regexes and tables it builds on first use.
extract_html(
    b"<html><head><title>Warm-up</title></head><body><article><p>"
    + b"The forkserver extracts one small page before the workers are forked. " * 8
    + b"</p></article></body></html>",
    "https://example.org/warm-up",
)
gc.collect()
gc.freeze()
