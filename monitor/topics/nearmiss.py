"""Which non-hits are worth a look: the near misses of a topic.

An article that is not a hit for a topic is a *near miss* when an analyst's label on it
could teach something, that is when:

- ``disagree``: the topic has an active model, the rules alone would have made it a hit
  and the model said no (one of them is wrong);
- ``rule passed``: the rule held but the score stayed under the threshold (a headline
  or a summary that names the right things, too short to score high);
- ``close``: the score reached ``NEAR_BAND`` of the threshold although the rule failed
  (or passed it: the rule's structure vetoed what the words would have made a hit).

Anything else (most articles match nothing of most topics) is not kept, so the store
holds a bounded share of article x topic pairs. ``priority`` orders a topic's inbox:
disagreements first, then the articles whose rule passed, then the others (a score high
although the rule's structure vetoed it: "Iran" without any nuclear term); inside each,
the closest to the threshold first (score / threshold). Plain data in and out: the
pipeline's main process calls this without loading spaCy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A score at least this share of the threshold is close to it. Looser bands fill the inbox
# with noise: on the 5,507 entries of the 200 real feeds (shared/corpora/feeds-real), a
# failed rule at half the threshold kept 3 % of the article x topic pairs ("FutureSDR
# Released!" for the Caucasus topic); at 0.9, about 1.5 %, mostly worth a look.
NEAR_BAND = 0.9


@dataclass(frozen=True)
class NearMissVerdict:
    reason: str  # disagree / rule passed / close
    threshold: float
    priority: float  # higher: more worth a look


def near_miss(matched: bool, score: float, evidence: dict[str, Any]) -> NearMissVerdict | None:
    """Whether a topic's decision on an article is a near miss (see the module)."""
    if matched:
        return None
    try:
        threshold = float(evidence.get("threshold") or 0.0)
    except (TypeError, ValueError):
        return None
    closeness = min(1.0, score / threshold) if threshold > 0 else 0.0
    rule_passed = bool(evidence.get("rule_passed"))
    model = evidence.get("model") or {}
    if model.get("used") and evidence.get("rule_matched"):
        reason = "disagree"
    elif rule_passed and score > 0:
        reason = "rule passed"
    elif threshold > 0 and score > 0 and closeness >= NEAR_BAND:
        reason = "close"
    else:
        return None
    tier = {"disagree": 2.0, "rule passed": 1.0}.get(reason, 0.0)
    priority = tier + min(closeness, 0.9999)
    return NearMissVerdict(reason, threshold, round(priority, 4))
