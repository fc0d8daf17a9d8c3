"""The SSRF guard: what a stranger's URL may make newsmon fetch, and the allow-list.

Feed and article URLs come from strangers. By default only http(s) to public
addresses is fetched - after DNS resolution, on every redirect, for every address a
name resolves to, and again on the address the connection is really opened to. The
allow-list (``fetch.allow_hosts``, ``$NEWSMON_ALLOW_HOSTS``, ``--allow-host``) opens
named hosts or networks. All against a real loopback server: a refused request must
never reach it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from monitor.config import ALLOW_HOSTS_ENV, FetchSettings, RunSettings, load_config
from monitor.demo.servers import Fault, FixtureServer
from monitor.errors import ConfigError, FetchError
from monitor.fetch.http import Fetcher, FetchResult

ROOT = Path(__file__).resolve().parent.parent
TOPICS = ROOT / "config" / "topics.yaml"
NEWSMON = Path(sys.executable).with_name("newsmon")
FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
    b"<item><title>A</title><link>{BASE}/a</link></item></channel></rss>"
)


@pytest.fixture
def server() -> Iterator[FixtureServer]:
    srv = FixtureServer().start()
    try:
        yield srv
    finally:
        srv.stop()


def fetch(url: str, settings: FetchSettings) -> FetchResult:
    async def go() -> FetchResult:
        async with Fetcher(settings) as f:
            return await f.fetch(url)

    return asyncio.run(go())


def refused(url: str, settings: FetchSettings | None = None) -> str:
    with pytest.raises(FetchError) as info:
        fetch(url, settings or FetchSettings())
    return str(info.value)


def fast(**kw: Any) -> FetchSettings:
    return FetchSettings(per_host_delay_s=0, timeout_s=5, connect_timeout_s=2, **kw)


# --- refused by default, before any connection ------------------------------------------


@pytest.mark.parametrize(
    "url, kind",
    [
        ("http://127.0.0.1:{port}/feed.xml", "loopback"),
        ("http://localhost:{port}/feed.xml", "loopback"),  # a name, checked after resolution
        ("http://2130706433:{port}/feed.xml", "loopback"),  # 127.0.0.1 written as a number
        ("http://0x7f.1:{port}/feed.xml", "loopback"),
        ("http://[::1]:{port}/feed.xml", "loopback"),
        ("http://[::ffff:127.0.0.1]:{port}/feed.xml", "loopback"),  # IPv4-mapped IPv6
        ("http://[2002:7f00:1::]/feed.xml", "loopback"),  # 6to4 carrying 127.0.0.1
        ("http://[64:ff9b::a9fe:a9fe]/latest/", "link-local"),  # NAT64 to 169.254.169.254
        ("http://[::10.0.0.1]/feed.xml", "private"),  # IPv4-compatible (deprecated)
        ("http://169.254.169.254/latest/meta-data/", "link-local"),  # cloud metadata
        ("http://[fe80::1]/", "link-local"),
        ("http://10.1.2.3/feed", "private"),
        ("http://192.168.0.1/feed", "private"),
        ("http://172.16.0.1/feed", "private"),
        ("http://[fd00::1]/feed", "private"),
        ("http://0.0.0.0:{port}/feed.xml", "private"),
        ("http://224.0.0.1/feed", "multicast"),
    ],
)
def test_non_public_addresses_refused_by_default(
    server: FixtureServer, url: str, kind: str
) -> None:
    server.add("feed.xml", FEED, "application/rss+xml")
    msg = refused(url.format(port=server.port))
    assert msg.startswith("refused: ") and kind in msg, msg
    assert "--allow-host" in msg and ALLOW_HOSTS_ENV in msg and "fetch.allow_hosts" in msg
    assert server.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
        "gopher://x/",
        "javascript:alert(1)",
        "data:text/plain,hi",
        "//127.0.0.1/",
    ],
)
def test_other_schemes_refused(url: str) -> None:
    msg = refused(url, FetchSettings(allow_private_networks=True))  # even with the switch
    assert "refused: unsupported URL scheme" in msg and "only http and https" in msg


def test_url_without_host_refused() -> None:
    assert "refused: no host" in refused("http:///feed.xml")


# --- the allow-list ----------------------------------------------------------------------


@pytest.mark.parametrize("allow", [["127.0.0.1"], ["127.0.0.0/8"], ["::ffff:127.0.0.0/104"]])
def test_allowed_network_is_fetched(server: FixtureServer, allow: list[str]) -> None:
    url = server.add("feed.xml", FEED, "application/rss+xml")
    assert fetch(url, fast(allow_hosts=allow)).status == 200


def test_allowed_name_is_fetched_and_only_that_name(server: FixtureServer) -> None:
    server.add("feed.xml", FEED, "application/rss+xml")
    settings = fast(allow_hosts=["LocalHost."])  # case and a trailing dot do not matter
    assert fetch(server.url("feed.xml").replace("127.0.0.1", "localhost"), settings).status == 200
    # the same address under another spelling is not the allowed name
    assert "refused" in refused(server.url("feed.xml"), settings)
    assert len(server.requests) == 1


def test_allowing_one_address_does_not_open_its_network(server: FixtureServer) -> None:
    server.add("feed.xml", FEED, "application/rss+xml")
    msg = refused(f"http://127.0.0.2:{server.port}/feed.xml", fast(allow_hosts=["127.0.0.1"]))
    assert "refused: 127.0.0.2 resolves to the non-public address 127.0.0.2" in msg
    assert "--allow-host 127.0.0.2" in msg


def test_every_redirect_hop_is_checked(server: FixtureServer) -> None:
    """An allowed host that redirects to a refused one: the refused hop is never asked."""
    server.add("feed.xml", FEED, "application/rss+xml")
    server.faults["/r1"] = Fault(status=302, headers={"Location": "/r2"})
    server.faults["/r2"] = Fault(
        status=301, headers={"Location": f"http://127.0.0.2:{server.port}/feed.xml"}
    )
    server.faults["/meta"] = Fault(
        status=307, headers={"Location": "http://169.254.169.254/latest/meta-data/iam"}
    )
    settings = fast(allow_hosts=["127.0.0.1"])
    assert "127.0.0.2" in refused(server.url("r1"), settings)
    assert "169.254.169.254 (link-local" in refused(server.url("meta"), settings)
    assert [r.path for r in server.requests] == ["/r1", "/r2", "/meta"]
    # and a redirect to another scheme on an allowed host
    server.faults["/file"] = Fault(status=302, headers={"Location": "file:///etc/passwd"})
    assert "unsupported URL scheme 'file'" in refused(server.url("file"), settings)


def test_the_connection_itself_is_checked(server: FixtureServer) -> None:
    """The check before a request resolves the name; the connection would resolve it
    again, and a name can answer differently the second time (DNS rebinding). So the
    client inside the Fetcher checks the address it connects to, whoever asks it."""
    url = server.add("feed.xml", FEED, "application/rss+xml")

    async def go() -> None:
        async with Fetcher(FetchSettings()) as f:
            assert f.guarded
            with pytest.raises(FetchError, match="refused: 127.0.0.1 resolves"):
                await f._client.get(url)  # past the per-request check, straight to httpx
            # the same client connects where the allow-list says it may
        async with Fetcher(fast(allow_hosts=["127.0.0.1"])) as f:
            assert (await f._client.get(url)).status_code == 200

    asyncio.run(go())
    assert len(server.requests) == 1


def test_legacy_switch_opens_everything(server: FixtureServer) -> None:
    url = server.add("feed.xml", FEED, "application/rss+xml")
    assert fetch(url, fast(allow_private_networks=True)).status == 200


# --- where the allow-list comes from ---------------------------------------------------------


def make_config(tmp_path: Path, settings: dict[str, Any] | None = None) -> Path:
    d = tmp_path / "config"
    d.mkdir(parents=True)
    (d / "topics.yaml").write_text(TOPICS.read_text(encoding="utf-8"), encoding="utf-8")
    if settings is not None:
        (d / "settings.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    return d


def test_allow_hosts_in_settings_and_environment_are_merged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = make_config(tmp_path, {"fetch": {"allow_hosts": ["feeds.intranet", "10.0.0.0/8"]}})
    monkeypatch.setenv(ALLOW_HOSTS_ENV, " 127.0.0.1, ::1 ,,10.0.0.0/8")
    assert RunSettings.from_environment(
        os.environ, config_dir=str(d)
    ).config().settings.fetch.allow_hosts == ["feeds.intranet", "10.0.0.0/8", "127.0.0.1", "::1"]
    from typer.testing import CliRunner

    from monitor.cli import app

    r = CliRunner().invoke(
        app,
        ["-c", str(d), "config", "check"],
        catch_exceptions=False,
        env={"NEWSMON_CONFIG": None, "NEWSMON_DB": None},
    )
    assert (
        "fetching: public addresses only; also allowed: feeds.intranet, 10.0.0.0/8, 127.0.0.1, ::1"
    ) in r.stdout
    monkeypatch.delenv(ALLOW_HOSTS_ENV)
    assert RunSettings.from_environment(
        os.environ, config_dir=str(d)
    ).config().settings.fetch.allow_hosts == ["feeds.intranet", "10.0.0.0/8"]
    assert load_config(make_config(tmp_path / "b")).settings.fetch.allow_hosts == []


@pytest.mark.parametrize(
    "entry",
    ["http://feeds.intranet", "10.0.0.0/33", "feeds intranet", "*.example.org", "1.2.3", ""],
)
def test_bad_allow_hosts_entry_in_settings(tmp_path: Path, entry: str) -> None:
    d = make_config(tmp_path, {"fetch": {"allow_hosts": ["127.0.0.1", entry]}})
    with pytest.raises(ConfigError) as info:
        load_config(d)
    msg = str(info.value)
    assert msg.startswith(f"{d / 'settings.yaml'}: fetch.allow_hosts: ")
    assert repr(entry) in msg and "not a host name, an IP address or a CIDR network" in msg


def test_bad_allow_hosts_entry_in_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_HOSTS_ENV, "127.0.0.1,https://x.org/")
    with pytest.raises(ConfigError) as info:
        RunSettings.from_environment(os.environ, config_dir=str(make_config(tmp_path))).config()
    assert str(info.value).startswith(f"${ALLOW_HOSTS_ENV} (environment): 'https://x.org/'")


# --- the CLI: refused, then allowed with --allow-host or the variable ---------------------------


def newsmon(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PREFECT_API_URL", "NEWSMON_CONFIG", "NEWSMON_DB", ALLOW_HOSTS_ENV}
    }
    base.update(PREFECT_HOME=str(home / "prefect"), NEWSMON_HOME=str(home / "newsmon"), **env)
    return subprocess.run(
        [str(NEWSMON), *args], env=base, capture_output=True, text=True, timeout=300
    )


def test_cli_bad_allow_host_is_a_config_error(tmp_path: Path) -> None:
    d = make_config(tmp_path)
    db = tmp_path / "x.db"
    for cmd in (["run", "--no-prefect"], ["serve"]):
        r = newsmon(
            "-c",
            str(d),
            "--db",
            f"sqlite:///{db}",
            *cmd,
            "--allow-host",
            "127.0.0.1",
            "--allow-host",
            "not a host",
            home=tmp_path,
        )
        assert r.returncode == 2, r.stdout + r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert lines == [
            "newsmon: config error: --allow-host: 'not a host' is not a host "
            "name, an IP address or a CIDR network (examples: feeds.intranet, "
            "127.0.0.1, 10.0.0.0/8, ::1)"
        ], r.stderr
        assert not list(tmp_path.glob("x.db*")), "nothing may start after a config error"


def test_cli_run_refuses_loopback_then_allow_host_opens_it(tmp_path: Path) -> None:
    srv = FixtureServer().start()
    try:
        url = srv.add("feed.xml", FEED, "application/rss+xml")
        d = make_config(tmp_path, {"fetch": {"per_host_delay_s": 0}})
        (d / "feeds.yaml").write_text(yaml.safe_dump({"feeds": [{"url": url}]}))
        db = f"sqlite:///{tmp_path / 'x.db'}"
        r = newsmon("-c", str(d), "--db", db, "run", "--no-prefect", "--json", home=tmp_path)
        assert r.returncode == 0, r.stderr
        summary = yaml.safe_load(r.stdout)
        assert summary["feeds_failed"] == 1 and srv.requests == []
        assert any(
            "refused: 127.0.0.1 resolves to the non-public address 127.0.0.1" in e
            and "--allow-host 127.0.0.1" in e
            for e in summary["errors"]
        ), summary
        for how in (["--allow-host", "127.0.0.0/8"], []):
            env = {} if how else {ALLOW_HOSTS_ENV: "127.0.0.1"}
            r = newsmon(
                "-c",
                str(d),
                "--db",
                db,
                "run",
                "--no-prefect",
                "--force",
                "--json",
                *how,
                home=tmp_path,
                **env,
            )
            assert r.returncode == 0, r.stderr
            summary = yaml.safe_load(r.stdout)
            assert summary["feeds_failed"] == 0 and summary["feeds_polled"] == 1, summary
        assert len(srv.hits("feed.xml")) == 2
    finally:
        srv.stop()


def test_httpx_still_needs_no_private_poking() -> None:
    """The connect-time guard sits in httpx's transport; if an upgrade moves it, this
    fails (the per-request check would still apply, but rebinding would be open)."""
    client = httpx.AsyncClient()
    try:
        from monitor.fetch.backend import guard_connections
        from monitor.fetch.guard import HostPolicy

        assert guard_connections(client, HostPolicy())
    finally:
        asyncio.run(client.aclose())


def test_cli_extract_url_needs_allow_host_for_loopback(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from monitor.cli import app

    page = (
        ROOT / "monitor" / "demo" / "data" / "pages" / "caucasus-iran-azerbaijan-thaw.html"
    ).read_bytes()
    srv = FixtureServer().start()
    try:
        url = srv.add("page.html", page, "text/html")
        env = {"NEWSMON_CONFIG": str(tmp_path / "none"), "NEWSMON_DB": None, ALLOW_HOSTS_ENV: None}
        with pytest.raises(FetchError, match="refused: 127.0.0.1 resolves"):
            CliRunner().invoke(app, ["extract", url], env=env, catch_exceptions=False)
        assert srv.requests == []
        r = CliRunner().invoke(
            app, ["extract", url, "--allow-host", "127.0.0.1"], env=env, catch_exceptions=False
        )
        assert r.exit_code == 0 and "title: Iran and Azerbaijan signal a thaw" in r.stdout
        assert len(srv.requests) == 1
    finally:
        srv.stop()
        os.environ.pop(ALLOW_HOSTS_ENV, None)  # --allow-host exported it for flow runs
