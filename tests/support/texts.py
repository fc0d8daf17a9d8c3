"""Text the tokenizer has never seen: copies of real articles with words reversed."""

from __future__ import annotations

import random
import re


def reversed_words(text: str, seed: int) -> str:
    """One word in eight reversed, chosen per copy (as benchmarks/world.py does to its copies)."""
    rnd = random.Random(seed)
    words = re.split(r"(\s+)", text)
    idx = [i for i, w in enumerate(words) if w.strip()]
    for i in rnd.sample(idx, len(idx) // 8):
        words[i] = words[i][::-1]
    return "".join(words)
