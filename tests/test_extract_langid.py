"""The language-identification model mapped from a file: py3langid's answers, no copy in
the forkserver, py3langid's own loading where no cache directory is writable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TEXTS = [
    "The minister said the new road would open in the spring of next year.",
    "Le ministre a dit que la nouvelle route serait ouverte au printemps prochain.",
    "Der Minister sagte, die neue Straße werde im Frühjahr eröffnet.",
    "El ministro dijo que la nueva carretera se abriría en la primavera.",
    "Presiden meresmikan jalan tol baru di Jawa Tengah pada hari Senin.",
    "Perdana Menteri berkata kerajaan akan membina jalan raya baharu.",
    "De minister zei dat de nieuwe weg volgend voorjaar opengaat.",
    "Министр заявил, что новая дорога откроется весной следующего года.",
    "Բանակցությունները կշարունակվեն հաջորդ շաբաթ Երևանում։",
    "მინისტრმა განაცხადა, რომ ახალი გზა გაზაფხულზე გაიხსნება.",
    "وقال الوزير إن الطريق الجديد سيفتح في الربيع المقبل.",
    "大臣は新しい道路が来年の春に開通すると述べた。",
    "部长说新公路将于明年春天通车。",
    "장관은 새 도로가 내년 봄에 개통될 것이라고 말했다.",
    "मंत्री ने कहा कि नई सड़क अगले साल वसंत में खुलेगी।",
    "NATO SUMMIT OPENS IN VILNIUS",
    "",
    "1234 5678 !!!",
]

PROBE = """
import json, random, sys
import py3langid.langid as pl
from monitor.extract import langid

texts = json.loads(sys.argv[1])
rnd = random.Random(7)
for _ in range(200):  # text of random letters from a few scripts, random lengths
    lo = rnd.choice([0x41, 0xC0, 0x400, 0x530, 0x600, 0x900, 0x4E00, 0xAC00])
    texts.append("".join(chr(lo + rnd.randrange(90)) if rnd.random() > 0.15 else " "
                         for _ in range(rnd.randrange(1, 400))))
own = pl.LanguageIdentifier.from_model_file(pl.MODEL_FILE)
mapped = langid.identifier()
assert mapped is not None and type(mapped._rowbase) is memoryview
print(json.dumps([[own.rank(t), mapped.rank(t), own.classify(t), mapped.classify(t)]
                  for t in texts]))
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "NEWSMON_HOME": str(tmp_path)}
    env.update(extra)
    return env


def _cache_file(directory: Path, name: str, model: str | None) -> Path:
    header = {"classes": ["en"], "columns": 1} | ({} if model is None else {"model": model})
    path = directory / f"langid-{name}.bin"
    path.write_bytes(json.dumps(header).encode().ljust(4096 * 4, b" "))
    return path


def test_the_mapped_model_answers_as_py3langids_own(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "newsmon"
    cache.mkdir(parents=True)
    stale = cache / "langid-0123456789abcdef.bin"
    stale.write_bytes(b"the model of an earlier py3langid")
    other_model = tmp_path / "other-install" / "model.plzma"
    other_model.parent.mkdir()
    other_model.write_bytes(b"another install's model")
    others = _cache_file(cache, "1111111111111111", str(other_model))
    removed = _cache_file(cache, "2222222222222222", str(tmp_path / "removed" / "model.plzma"))
    older = _cache_file(cache, "3333333333333333", None)
    import py3langid.langid as pl

    ours = Path(pl.MODEL_DIR) / str(pl.MODEL_FILE)  # an earlier py3langid of this install
    earlier = _cache_file(cache, "4444444444444444", str(ours))
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(TEXTS)],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = json.loads(out.stdout)
    assert len(rows) == len(TEXTS) + 200
    for own_rank, mapped_rank, own, mapped in rows:
        assert mapped_rank == own_rank
        assert mapped == own
    files = set(cache.glob("langid-*.bin"))
    # an earlier format, and the file of an install since removed, go; another
    # install's file stays (each install keeps its model shared between processes)
    assert not {stale, removed, older, earlier} & files
    assert others in files and len(files) == 2


FORKSERVER_PROBE = """
import json
import monitor.pipeline.warmup  # the forkserver's state
import py3langid.langid as pl
rss = None
name = None
with open("/proc/self/smaps") as f:
    for line in f:
        p = line.split()
        if "-" in p[0] and len(p) >= 5:
            name = p[-1] if len(p) >= 6 else ""
        elif p[0] == "Rss:" and name and "/langid-" in name:
            rss = int(p[1])
print(json.dumps({"mapped_rss_kb": rss, "rowbase": type(pl.IDENTIFIER._rowbase).__name__,
                  "lang": pl.classify("Le ministre a dit que la route serait ouverte.")[0]}))
"""


def test_the_forkserver_maps_the_model_and_holds_none_of_its_pages(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", FORKSERVER_PROBE],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    # Loaded by py3langid: ~75 MB of the forkserver's heap, no mapping at all.
    assert got["rowbase"] == "memoryview", got
    assert got["mapped_rss_kb"] is not None and got["mapped_rss_kb"] < 1024, got
    assert got["lang"] == "fr"


def test_without_a_writable_cache_py3langid_loads_its_model(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from monitor.extract import langid; from monitor.extract.article import "
            "detect_language as d; print(langid.install(), d('Der Minister sagte, die neue "
            "Straße werde im Frühjahr eröffnet.'))",
        ],
        cwd=ROOT,
        env=_env(tmp_path, XDG_CACHE_HOME=str(blocker), NEWSMON_HOME=str(blocker)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["False", "de"]
