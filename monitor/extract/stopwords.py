"""justext's stoplist of every language, held as 1.2 MB of hashes instead of ~30 MB of
strings.

trafilatura falls back to justext for some pages, and without a target language it gives
justext the stopwords of every language it ships (~150,000 words): a tuple of them
(``trafilatura.external.JT_STOPLIST``) and the frozenset of their lower-cased copies that
justext builds from it (``justext.core.define_stoplist``). justext only asks whether a
lower-cased word is in that set, so a sorted array of the words' hashes answers the same
question: ``word in stoplist`` is a binary search for the hash of the word's UTF-8 bytes
(not ``hash(word)``: CPython hashes a string's internal bytes, so "LÅ", one byte a
letter, and "알", two, share a hash). Two different words share a 64-bit hash with a
probability of about 10^-14 per look-up.

:func:`install` makes trafilatura build this form (lazily, as it builds its own) and
justext take it as it is. String hashes are salted per interpreter; a process forked
from one that built the array (a worker from its forkserver) shares the salt.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterable
from typing import Any


def _hash(word: str) -> int:
    return hash(word.encode("utf-8", "surrogatepass"))


class StopHashes:
    """Membership in a set of words, by the words' hashes (see the module)."""

    __slots__ = ("_hashes",)

    def __init__(self, words: Iterable[str]) -> None:
        # Hashed into a flat array as they come, sorted without a Python int each: the
        # memory a set of 150,000 ints took stayed behind in fragments (~7 MB).
        import numpy as np

        hashes = array("q", (_hash(w) for w in words))
        self._hashes = array("q", np.unique(np.frombuffer(hashes, dtype=np.int64)).tobytes())

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str):
            return False
        h = _hash(word)
        i = bisect_left(self._hashes, h)
        return i < len(self._hashes) and self._hashes[i] == h

    def __len__(self) -> int:
        return len(self._hashes)

    # Hashable by identity: justext's define_stoplist is an lru_cache keyed by the list.
    __hash__ = object.__hash__


def every_language() -> StopHashes:
    """justext's stopwords of every language it ships, lower-cased (as justext reads
    them)."""
    from justext.utils import get_stoplist, get_stoplists

    return StopHashes(w.lower() for lang in sorted(get_stoplists()) for w in get_stoplist(lang))


_installed = False


def install() -> None:
    """Make trafilatura's justext fallback use :class:`StopHashes` for its stoplist of
    every language (built on first use, as trafilatura builds its own)."""
    global _installed
    if _installed:
        return
    import justext.core
    from trafilatura import external as trafilatura_external

    external: Any = trafilatura_external  # its names are typed for its own stoplist
    original = justext.core.define_stoplist

    def define_stoplist(stoplist: Any) -> Any:
        return stoplist if isinstance(stoplist, StopHashes) else original(stoplist)

    def jt_stoplist_init() -> StopHashes:
        stoplist = external.JT_STOPLIST = every_language()
        return stoplist

    # classify_paragraphs and try_justext look both names up in their modules at each call.
    justext.core.define_stoplist = define_stoplist
    external.jt_stoplist_init = jt_stoplist_init
    if external.JT_STOPLIST is not None:  # trafilatura's own tuple, built before this
        external.JT_STOPLIST = None
    _installed = True
