"""The cycle's page stream against real loopback hosts: which host's page is asked for
next, and pages handed over in the order they are done (monitor.pipeline.pages)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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


@pytest.fixture
def servers() -> Iterator[dict[str, FixtureServer]]:
    """Three loopback hosts, a, b and c."""
    hosts = {"a": "127.0.0.1", "b": "127.0.0.2", "c": "127.0.0.3"}
    started = {n: FixtureServer(host=h).start() for n, h in hosts.items()}
    yield started
    for s in started.values():
        s.stop()


def _settings(per_host: int) -> FetchSettings:
    return FetchSettings(
        allow_private_networks=True, per_host_delay_s=0.0, per_host_concurrency=per_host
    )


def test_the_host_with_most_pages_left_goes_first_and_pages_come_in_as_done(
    servers: dict[str, FixtureServer],
) -> None:
    # One page at a time, one per host: the order the stream asks in is its policy. A
    # host with many pages left goes before hosts with few, so none is left at the end
    # with a queue its politeness delay lets through a few pages a second.
    cands = _candidates(servers, {"c": 1, "b": 2, "a": 6})
    settings = _settings(1)
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


def test_a_feed_primed_later_is_not_held_behind_the_feeds_before_it(
    servers: dict[str, FixtureServer],
) -> None:
    # The poll step primes feed by feed. A host with many pages whose feed was read
    # last must still go first: the first feeds' hosts with few pages do not make it
    # wait (it did when each prime was a queue of its own, taken oldest first, and the
    # cycle's long hosts started late and ended alone).
    first = _candidates(servers, {"c": 1})
    second = _candidates(servers, {"b": 2})
    last = _candidates(servers, {"a": 4})
    settings = _settings(1)
    with FetchLoop(settings) as fetcher:
        stream = PageStream(fetcher, None, max_pages=1)
        # feed by feed, queued on the loop one after the other before any is fetched
        fetcher.call(_prime_all(stream, [first, second, last]))
        everything = first + second + last
        chunks = list(stream.as_done(everything, 1, 1))
        stream.close()
    order = [c.title.split()[0] for chunk in chunks for c in chunk]
    # c was asked as soon as it was queued (the only page then); after it, a with 4
    # left goes before b with 2 until they have as many left
    assert order[0] == "c"
    assert order[1:] == ["a", "a", "b", "a", "b", "a"]
    served = [len(s.requests) for s in servers.values()]
    assert served == [4, 2, 1]


async def _prime_all(stream: PageStream, groups: list[list[Candidate]]) -> None:
    for g in groups:
        stream.prime(g)  # on the loop's thread: each queues its pages in the next turn


def test_the_host_heap_stays_as_small_as_the_hosts_while_pages_wait(
    servers: dict[str, FixtureServer],
) -> None:
    # Every change of a host's state pushes an entry; older ones are dropped only when
    # they come up. With a backlog (the usual state of a CPU-bound cycle) those behind
    # the top one never do: the heap is rebuilt from the hosts' states instead of
    # growing with every page of the cycle.
    cands = _candidates(servers, {"a": 150, "b": 150, "c": 150})
    settings = _settings(2)
    sizes = []
    with FetchLoop(settings) as fetcher:
        stream = PageStream(fetcher, None, max_pages=4)
        stream.prime(cands)
        done = 0
        for chunk in stream.as_done(cands, 5, 1):
            done += len(chunk)
            sizes.append(len(stream._heap))  # the stream's own state: what this is about
        stream.close()
    assert done == 450
    assert max(sizes) <= 4 * len(servers) + 64 + 1


@pytest.mark.timeout(60)  # a regression hangs: fail it soon
def test_pages_waiting_on_a_loop_that_dies_fail_instead_of_hanging(
    servers: dict[str, FixtureServer],
) -> None:
    from monitor.demo.servers import Fault

    cands = _candidates(servers, {"a": 3})
    for c in cands:  # the host takes its time: the pages are still under way
        servers["a"].faults["/" + c.canonical_url.split("/", 3)[3]] = Fault(delay_s=2.0)

    async def kills_the_loop() -> None:
        raise SystemExit("a library called sys.exit")

    with FetchLoop(_settings(1)) as fetcher:
        stream = PageStream(fetcher, None, max_pages=1)
        stream.prime(cands)
        fetcher.start("exit", kills_the_loop)
        with pytest.raises(RuntimeError, match="the fetch loop stopped"):
            stream.take(cands)
        late = _candidates(servers, {"b": 1})  # primed after: fails at once too
        with pytest.raises(RuntimeError, match="the fetch loop stopped"):
            stream.take(late)
        stream.close()
