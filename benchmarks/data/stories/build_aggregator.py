"""Build aggregator.jsonl from the head of the UCI News Aggregator CSV.

The input is a run of characters of ``uci-news-aggregator.csv`` (UCI ML repository,
Gasparetti 2016, CC BY 4.0; columns ID,TITLE,URL,PUBLISHER,CATEGORY,STORY,HOSTNAME,
TIMESTAMP), read as it was published: the cut may end in the middle of a row. This
script drops that partial last row and any malformed row, undoes the file's backslash
escapes (``\\?``, ``\\(``, ``\\&`` ...), and writes one JSON line per headline with the
fields of ``newsmon stories cluster`` plus the labels (``gold`` = STORY, ``split``,
``publisher``). Rows are never edited by hand.

The held-out set is the head of the file (with its header row). ``--middle`` reads a cut
from inside the file instead: no header, and the partial first row is dropped too.

Usage: python benchmarks/data/stories/build_aggregator.py HEAD.csv [OUT.jsonl]
       python benchmarks/data/stories/build_aggregator.py --middle --split dev \\
           CUT.csv aggregator-dev.jsonl
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

COLUMNS = ["ID", "TITLE", "URL", "PUBLISHER", "CATEGORY", "STORY", "HOSTNAME", "TIMESTAMP"]
OUT = Path(__file__).resolve().parent / "aggregator.jsonl"


def rows(text: str, middle: bool = False) -> tuple[list[dict[str, str]], int]:
    """Complete, well-formed rows of the CSV cut, and how many were dropped."""
    # The cut ends inside a row: keep up to the last line break (no field holds one).
    text = text[: text.rfind("\n") + 1]
    if middle:
        # A cut from inside the file also starts inside a row: drop up to the first break.
        text = text[text.find("\n") + 1 :]
    reader = csv.reader(io.StringIO(text), escapechar="\\", doublequote=True, strict=True)
    if not middle:
        header = next(reader)
        if header != COLUMNS:
            raise SystemExit(f"unexpected header {header}")
    good: list[dict[str, str]] = []
    dropped = 0
    for fields in reader:
        row = dict(zip(COLUMNS, fields, strict=False))
        if (
            len(fields) != len(COLUMNS)
            or not row["ID"].isdigit()
            or not row["TIMESTAMP"].isdigit()
            or not row["TITLE"].strip()
            or not row["STORY"].strip()
        ):
            dropped += 1
            continue
        good.append(row)
    return good, dropped


def record(row: dict[str, str], split: str = "heldout") -> dict[str, str]:
    published = datetime.fromtimestamp(int(row["TIMESTAMP"]) / 1000, UTC)
    return {
        "id": f"uci-{row['ID']}",
        "title": row["TITLE"].strip(),
        "text": "",
        "url": row["URL"].strip(),
        "published": published.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "language": "en",
        "gold": row["STORY"],
        "split": split,
        "publisher": row["PUBLISHER"].strip(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cut", type=Path, help="the characters of the CSV, as read")
    ap.add_argument("out", type=Path, nargs="?", default=OUT)
    ap.add_argument("--middle", action="store_true", help="a cut from inside the file")
    ap.add_argument("--split", default="heldout", choices=["dev", "heldout"])
    args = ap.parse_args()
    text = args.cut.read_text(encoding="utf-8")
    out = args.out
    good, dropped = rows(text, middle=args.middle)
    recs = [record(r, args.split) for r in good]
    with out.open("w", encoding="utf-8") as fh:
        for r in recs:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    stories = Counter(r["gold"] for r in recs)
    times = sorted(r["published"] for r in recs)
    print(f"input: {len(text):,} characters; rows kept {len(recs):,}, dropped {dropped}")
    print(
        f"stories: {len(stories):,} ({sum(1 for n in stories.values() if n == 1)} "
        f"single-headline, largest {max(stories.values())})"
    )
    print(f"publishers: {len({r['publisher'] for r in recs}):,}")
    print(f"time span: {times[0]} .. {times[-1]}")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
