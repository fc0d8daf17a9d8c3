"""Imported by the worker pool's forkserver only, never by the main process.

It loads what every extraction worker needs - trafilatura, spaCy's blank pipeline and
the language-identification model (mapped from a file, see :mod:`monitor.extract.langid`;
about 75 MB loaded here where no cache directory can hold the file) - once, before the
workers are forked, so they share those pages instead of each loading a copy of its own.

Also built here, because every worker would otherwise build its own copy within its
first pages (``benchmarks/memory.py workers`` shows where a worker grows):

- justext's stoplist of every language (trafilatura's fallback extractor uses it for
  pages whose language it is not told: ~150,000 words, held as 1.2 MB of hashes, see
  :mod:`monitor.extract.stopwords`; ~30 MB as trafilatura and justext hold it);
- the spaCy pipelines the pool asks for (``$NEWSMON_PRELOAD_LANGUAGES``, set by
  :class:`~monitor.pipeline.workers.WorkerPool` before its forkserver starts; by default
  :data:`~monitor.pipeline.workers.SHARED_LANGUAGES`, whose tokenizer exceptions are
  large; the others cost a worker 0-4 MB each, built when it first meets the language).

Then ``gc.freeze()``: the objects made so far are left out of every later garbage
collection, so a worker's full collection does not write to their headers and copy
the pages it shares with the forkserver into its own memory.

A worker does not import its pool's main module. multiprocessing re-imports the parent's
``__main__`` in every process it starts (as ``__mp_main__``, for functions defined
there); the pool runs only functions of ``monitor.pipeline``, and the main module of a
flow run that ``newsmon serve`` starts is ``prefect.engine``: Prefect's client again in
every worker (+28 MB each, 0.7 CPU-s at each start and recycling).
"""

import gc
import os
from multiprocessing import spawn

from monitor.extract import langid
from monitor.extract.article import detect_language, extract_html
from monitor.pipeline.workers import PRELOAD_ENV, SHARED_LANGUAGES, release_memory
from monitor.topics.text import pipeline

# The language-identification model: mapped from a file (monitor/extract/langid.py), its
# pages read in by the workers that use it; else loaded here, once, for all of them.
if not langid.install():
    detect_language("The language identification model is loaded once, in the forkserver.")
_wanted = os.environ.get(PRELOAD_ENV)
for _lang in ["en", *(_wanted.split(",") if _wanted is not None else SHARED_LANGUAGES)]:
    if _lang:
        pipeline(_lang)


def _justext_stoplist() -> None:
    from trafilatura import external

    external.JT_STOPLIST or external.jt_stoplist_init()  # see monitor/extract/stopwords.py


_justext_stoplist()
# One small page through trafilatura: the regexes and tables it builds on first use.
extract_html(
    b"<html><head><title>Warm-up</title></head><body><article><p>"
    + b"The forkserver extracts one small page before the workers are forked. " * 8
    + b"</p></article></body></html>",
    "https://example.org/warm-up",
)
# Read by every process forked from here before it runs (multiprocessing.spawn.prepare).
spawn._fixup_main_from_name = spawn._fixup_main_from_path = lambda _main: None  # type: ignore[attr-defined]

langid.unmap_pages()  # the warm-up page's language detection mapped them here
gc.collect()
release_memory()  # what building all that freed, back to the system: ~9 MB fewer to share
gc.freeze()
