"""``newsmon run --feed URL``: a feed of feeds.yaml is polled at once, however written
(credentials, trailing slash); a URL that is not configured is refused before anything
starts, instead of "0 polled"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from monitor.demo.world import world

ROOT = Path(__file__).resolve().parent.parent
NEWSMON = Path(sys.executable).with_name("newsmon")


def newsmon(tmp_path: Path, cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSMON_", "PREFECT_API"))}
    env.update(NEWSMON_HOME=str(tmp_path / "home"), NEWSMON_DB=f"sqlite:///{tmp_path / 'db'}")
    return subprocess.run(
        [str(NEWSMON), "-c", str(cfg), *args], env=env, capture_output=True, text=True, timeout=300
    )


def test_run_feed_polls_a_configured_feed_and_refuses_any_other(tmp_path: Path) -> None:
    with world(ROOT / "config" / "topics.yaml", directory=tmp_path / "w") as w:
        stranger = w.server.url("feeds/not-configured.xml")
        r = newsmon(tmp_path, w.config_dir, "run", "--no-prefect", "--feed", stranger)
        assert r.returncode == 2, r.stdout + r.stderr
        (line,) = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert stranger in line and "feeds.yaml" in line, line
        assert not (tmp_path / "db").exists()  # refused before the database was touched
        assert w.server.requests == []

        configured = w.server.url("feeds/world.xml")
        written = configured.replace("://", "://someone:pw@") + "/"  # still that feed
        r = newsmon(tmp_path, w.config_dir, "run", "--no-prefect", "--json", "--feed", written)
        assert r.returncode == 0, r.stderr
        summary = json.loads(r.stdout)
        assert summary["feeds_polled"] == 1 and summary["feeds_ok"] == 1, summary
        assert [x.path for x in w.server.requests if x.path.startswith("/feeds/")] == [
            "/feeds/world.xml"
        ]
