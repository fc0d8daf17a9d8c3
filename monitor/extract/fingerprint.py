"""An article text's fingerprint: trafilatura's simhash, bit for bit, without its cache.

``trafilatura.deduplication.content_fingerprint`` is a 64-bit Charikar simhash of the
text's sampled tokens: each token adds +1 to every bit position its 8-byte blake2b hash
has set and -1 to the others; a bit of the fingerprint is set where the sum is >= 0.
trafilatura keeps each token's 64 +1/-1 as a list in an ``lru_cache`` of 16,384 tokens:
~12 MB in every extraction worker, full within its first hundred pages (tracemalloc
in a worker forked from the forkserver's state). Here the hashes are computed afresh
and their bits counted with numpy: the same hex string
(``tests/test_extract_fingerprint.py``), no cache, no slower.
"""

from __future__ import annotations

from hashlib import blake2b

import numpy as np
from trafilatura.deduplication import sample_tokens

_BITS = np.arange(64, dtype=np.uint64)


def content_fingerprint(text: str) -> str:
    """The simhash of ``text`` as trafilatura's ``content_fingerprint`` computes it."""
    tokens = sample_tokens(text, 64)
    digests = b"".join(blake2b(t.encode(), digest_size=8).digest() for t in tokens)
    hashes = np.frombuffer(digests, dtype=">u8").astype(np.uint64)
    ones = ((hashes[:, None] >> _BITS) & np.uint64(1)).sum(axis=0)  # tokens with bit i
    # sum of +1/-1 at bit i = ones - (n - ones) >= 0
    bits = (2 * ones >= len(tokens)).tolist()
    return f"{sum(1 << i for i, b in enumerate(bits) if b):x}"
