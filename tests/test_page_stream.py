"""The cycle's page stream against real loopback hosts: which host's page is asked for
next, and pages handed over in the order they are done (monitor.pipeline.pages)."""

from __future__ import annotations

from monitor.config import FetchSettings
from monitor.demo.servers import FixtureServer
from monitor.fetch.loop import FetchLoop
from monitor.pipeline.pages import Candidate, PageStream

PAGE = "<html><body><p>text</p></body></html>"


def _candidates(servers: dict[str, FixtureServer], counts: dict[str, int]) -> list[Candidate]:
    out = []
    for name, n in counts.items():
        for k in range(n):
            url = servers[name].add(f"{name}/{k}.html", PAGE, "text/html")
            out.append(Candidate(url, url, None, f"{name} {k}", "", None))
    return out


def test_the_host_with_most_pages_left_goes_first_and_pages_come_in_as_done() -> None:
    # One page at a time, one per host: the order the stream asks in is its policy. A
    # host with many pages left goes before hosts with few, so none is left at the end
    # with a queue its politeness delay lets through a few pages a second.
    hosts = {"a": "127.0.0.1", "b": "127.0.0.2", "c": "127.0.0.3"}
    servers = {n: FixtureServer(host=h).start() for n, h in hosts.items()}
    try:
        cands = _candidates(servers, {"c": 1, "b": 2, "a": 6})
        settings = FetchSettings(
            allow_private_networks=True, per_host_delay_s=0.0, per_host_concurrency=1
        )
        with FetchLoop(settings) as fetcher:
            stream = PageStream(fetcher, None, max_pages=1)
            stream.prime(cands)
            chunks = list(stream.as_done(cands, 2, 1))
            stream.close()
        order = [c.title.split()[0] for chunk in chunks for c in chunk]
        # a with 6 pages goes first until b has as many left (2); among hosts with as
        # many left, the order they were queued in (c, b, a)
        assert order == ["a", "a", "a", "a", "b", "a", "c", "b", "a"]
        assert sorted(c.canonical_url for chunk in chunks for c in chunk) == sorted(
            c.canonical_url for c in cands
        )  # each once
        assert all(1 <= len(chunk) <= 2 for chunk in chunks)
        served = [len(s.requests) for s in servers.values()]
        assert served == [6, 2, 1]
    finally:
        for s in servers.values():
            s.stop()
