"""The committed Caucasus topic on real multilingual headlines and ledes, in one run.

    .venv/bin/python benchmarks/topics_multilingual.py            # dev and test side by side
    .venv/bin/python benchmarks/topics_multilingual.py --misses   # also list what it gets wrong

Reads ``benchmarks/data/topics/caucasus-realignment.jsonl`` (headline + first
sentence(s), as a feed summary has them, labelled relevant / not relevant; see that
folder's README) and the topic ``caucasus-realignment`` of ``config/topics.yaml`` (or
``--topics``), classifies every text with the rules alone (no trained model) and prints
recall and precision overall and per language for the dev part and the held-out test
part (split by event: whole events never seen while tuning), next to the goals of
issue 18: recall >= 0.85 with precision >= 0.90, and recall >= 0.70 in every
language with at least five relevant texts. ``--record`` writes the figures into
docs/benchmarks.md. The last line is ``RESULT dev_recall=... dev_precision=...
test_recall=... test_precision=...``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.config import load_yaml_model  # noqa: E402
from monitor.topics.labelled import Counts, SplitFigures, evaluate_topic, load_labelled  # noqa: E402
from monitor.topics.language import TopicsFile  # noqa: E402
from tests.support.benchreport import add_record_flag, record  # noqa: E402

DATA = ROOT / "benchmarks" / "data" / "topics" / "caucasus-realignment.jsonl"
TOPICS = ROOT / "config" / "topics.yaml"
TOPIC = "caucasus-realignment"
GOAL_RECALL, GOAL_PRECISION, GOAL_LANG_RECALL, MIN_LANG_RELEVANT = 0.85, 0.90, 0.70, 5


def _cell(c: Counts) -> str:
    return f"R {c.recall:.2f} P {c.precision:.2f} ({c.tp}/{c.relevant}, {c.fp} false)"


def _ok(flag: bool) -> str:
    return "ok" if flag else "NOT MET"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--topics", type=Path, default=TOPICS)
    ap.add_argument("--topic", default=TOPIC)
    ap.add_argument("--misses", action="store_true", help="list misses and false hits")
    add_record_flag(ap)
    args = ap.parse_args(argv)
    if not args.data.is_file():
        print(f"labelled set not found: {args.data}", file=sys.stderr)
        return 2
    topics = {t.id: t for t in load_yaml_model(args.topics, TopicsFile).topics}
    topic = topics[args.topic]
    items = load_labelled(args.data)
    t0 = time.perf_counter()
    figs = evaluate_topic(topic, items)
    took = time.perf_counter() - t0
    splits = [s for s in ("dev", "test") if s in figs]
    print(
        f"{len(items)} labelled texts ({sum(i.relevant for i in items)} relevant), topic "
        f"{topic.id} version {topic.version}, rules only; {took:.1f} s"
    )
    langs = sorted({lang for s in splits for lang in figs[s].by_language})
    width = 44
    print(f"\n{'':10}" + "".join(f"{s:<{width}}" for s in splits) + "goal")
    rows: list[tuple[str, ...]] = []

    def line(label: str, cells: list[Counts], goal: str) -> None:
        print(f"{label:10}" + "".join(f"{_cell(c):<{width}}" for c in cells) + goal)
        rows.append((label, *(_cell(c) for c in cells), goal))

    line(
        "overall",
        [figs[s].overall for s in splits],
        f"R >= {GOAL_RECALL} with P >= {GOAL_PRECISION}",
    )
    for lang in langs:
        cells = [figs[s].by_language.get(lang, Counts()) for s in splits]
        line(lang, cells, f"R >= {GOAL_LANG_RECALL} where >= {MIN_LANG_RELEVANT} relevant")
    verdicts = []
    for s in splits:
        f: SplitFigures = figs[s]
        ok = f.overall.recall >= GOAL_RECALL and f.overall.precision >= GOAL_PRECISION
        weak = [
            f"{lang} {c.recall:.2f}"
            for lang, c in sorted(f.by_language.items())
            if c.relevant >= MIN_LANG_RELEVANT and c.recall < GOAL_LANG_RECALL
        ]
        verdicts.append(
            f"{s}: overall {_ok(ok)}; languages "
            + (_ok(not weak) if not weak else f"NOT MET ({', '.join(weak)})")
        )
    print("\n" + "\n".join(verdicts))
    if args.misses:
        for s in splits:
            for label, lst in (("missed", figs[s].misses), ("false hit", figs[s].false_hits)):
                for it, sc in lst:
                    print(f"  {s} {label:9} {it.language} {sc:.3f} {it.id} {it.title[:90]}")
    d = figs.get("dev")
    t = figs.get("test")
    result = (
        f"RESULT dev_recall={d.overall.recall if d else 0:.3f} "
        f"dev_precision={d.overall.precision if d else 0:.3f} "
        f"test_recall={t.overall.recall if t else 0:.3f} "
        f"test_precision={t.overall.precision if t else 0:.3f}"
    )
    print(result)
    if args.record:
        record(
            "topics_multilingual",
            rows,
            title="Caucasus topic on multilingual headlines and ledes (rules only)",
            header=("language", *splits, "goal"),
            result=result,
            notes="; ".join(verdicts),
            path=ROOT / "docs" / "benchmarks.md",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
