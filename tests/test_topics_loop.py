"""The loop after training: `topics test --store [--alert]` stores what a new definition
or model finds in the stored history (alerted exactly once), and the warnings that make
`topics test` and `topics activate` ask first (a hit labelled relevant, or hits in a
language with few labels, would be dropped). Real SQLite, a real model trained on the
test database's labels, a real loopback webhook."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.alerts.send import deliver
from monitor.cli import app
from monitor.config import load_config
from monitor.demo.servers import WebhookReceiver
from monitor.store import NewArticle, Store
from monitor.topics.loop import change_warnings, check_candidate, rollback
from monitor.topics.model import ModelError, activate, load_model, model_path, save_model
from tests import test_topics_learn as learn
from tests.test_topics_learn import TOPIC, ok, runner

# the learning tests' database (pages and texts stored and classified as the pipeline does)
stored_items = learn.stored_items
world = learn.world


def cli(w: dict[str, Any], *args: str, input: str | None = None) -> Any:
    return runner.invoke(
        app,
        ["--config", str(w["cfg"]), "--db", w["db"], *args],
        env={"NEWSMON_CONFIG": None, "NEWSMON_DB": None, "NEWSMON_MODELS": str(w["models"])},
        input=input,
    )


def _lower_threshold(w: dict[str, Any]) -> None:
    """A broader definition: no rule (any group matches) and a lower threshold - the
    kind of edit that finds more in the stored history."""
    path = w["cfg"] / "topics.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    topic = next(t for t in data["topics"] if t["id"] == TOPIC)
    topic.pop("rule")
    topic["threshold"] = 0.15
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _route_to(w: dict[str, Any], hook: WebhookReceiver) -> None:
    (w["cfg"] / "alerts.yaml").write_text(
        f"routes:\n  - name: desk\n    topics: [{TOPIC}]\n    urls: ['{hook.apprise_url()}']\n"
    )


def test_store_asks_first_and_stores_new_hits_with_evidence(world: dict[str, Any]) -> None:
    _lower_threshold(world)
    rep = json.loads(ok(world, "topics", "test", TOPIC, "--model", "none", "--json"))
    new = rep["new_hits"]
    assert new, "a lower threshold finds more in the stored history"
    assert all(x["evidence"]["score"] == pytest.approx(x["score"], abs=1e-4) for x in new)

    r = cli(world, "topics", "test", TOPIC, "--model", "none", "--store", input="n\n")
    assert r.exit_code == 0, r.output
    assert f"store {len(new)} new hits" in r.output and "nothing stored" in r.output
    store = Store(world["db"])
    assert len(store.topic_hit_scores(TOPIC)) == world["n_hits"]

    r = cli(world, "topics", "test", TOPIC, "--model", "none", "--store", input="y\n")
    assert r.exit_code == 0, r.output
    assert f"stored {len(new)} hits" in r.output
    hits = {a.url: h for h, a in store.hits(topic=TOPIC, limit=500)}
    assert len(hits) == world["n_hits"] + len(new)
    for x in new:
        h = hits[x["url"]]
        assert h.topic_version == rep["version"] and h.score == pytest.approx(x["score"], abs=1e-4)
        assert h.evidence["rule_passed"] and h.evidence["groups"] and not h.label
    assert store.deliveries() == []  # stored, not alerted: --alert was not given
    again = json.loads(ok(world, "topics", "test", TOPIC, "--model", "none", "--json"))
    assert again["new_hits"] == [] and again["stored_hits"] == len(hits)
    store.close()


def test_alert_queues_each_new_hit_once(
    world: dict[str, Any],
    webhook: WebhookReceiver,
) -> None:
    _lower_threshold(world)
    _route_to(world, webhook)
    r = cli(world, "topics", "test", TOPIC, "--alert")
    assert r.exit_code == 2 and "give both" in r.output
    out = json.loads(
        ok(
            world,
            "topics",
            "test",
            TOPIC,
            "--model",
            "none",
            "--store",
            "--alert",
            "--yes",
            "--json",
        )
    )
    n = len(out["new_hits"])
    assert n and len(out["stored"]["hit_ids"]) == n and out["stored"]["deliveries"] == n
    store = Store(world["db"])
    config = load_config(world["cfg"])
    assert deliver(store, config).sent == n
    assert len(webhook.received) == n
    # asked again: nothing new to store, nothing queued, nothing sent twice
    out = json.loads(
        ok(
            world,
            "topics",
            "test",
            TOPIC,
            "--model",
            "none",
            "--store",
            "--alert",
            "--yes",
            "--json",
        )
    )
    assert out["new_hits"] == []
    assert out["stored"] == {"hit_ids": [], "deliveries": 0, "folded": 0}
    assert deliver(store, config).sent == 0 and len(webhook.received) == n
    store.close()


def _hit_the_rules_no_longer_find(w: dict[str, Any], language: str, label: str | None) -> str:
    """A stored hit an earlier definition made on an article today's rules (and any model
    trained on them) do not take: a Persian text about something else."""
    store = Store(w["db"])
    url = f"https://example.org/old-{language}"
    store.store_articles(
        [
            NewArticle(
                canonical_url=url,
                url=url,
                guid=None,
                title="گزارش هواشناسی تهران",
                summary="",
                text="فردا در تهران هوا آفتابی است و دما به بیست درجه می رسد.",
                author=None,
                published_at=datetime.now(UTC),
                published_source="feed",
                language=language,
                fingerprint=None,
                extraction="ok",
                extraction_error=None,
                sources=[],
                hits=[(TOPIC, 0.5, "an-older-version", {"score": 0.5})],
            )
        ]
    )
    if label:
        hit = next(h for h, a in store.hits(topic=TOPIC, limit=500) if a.url == url)
        store.mark_hit(hit.id or 0, label)
    store.close()
    return url


def test_warnings_for_a_relevant_hit_and_a_language_with_few_labels(
    world: dict[str, Any],
) -> None:
    url = _hit_the_rules_no_longer_find(world, "fa", None)
    rep = json.loads(ok(world, "topics", "test", TOPIC, "--model", "none", "--json"))
    assert rep["labels_by_language"].get("fa", 0) < 5
    kinds = {w["kind"]: w for w in rep["warnings"]}
    assert set(kinds) == {"language"}
    lost = {x["key"]: x["url"] for x in rep["lost_hits"]}
    assert [lost[k] for k in kinds["language"]["articles"]] == [url]
    text = ok(world, "topics", "test", TOPIC, "--model", "none")
    assert "WARNING: drops 1 hit(s) in fa, where the topic has 0 label(s)" in text

    # labelled relevant by an analyst: both warnings
    store = Store(world["db"])
    hit = next(h for h, a in store.hits(topic=TOPIC, limit=500) if a.url == url)
    store.mark_hit(hit.id or 0, "relevant")
    store.close()
    rep = json.loads(ok(world, "topics", "test", TOPIC, "--model", "none", "--json"))
    assert {w["kind"] for w in rep["warnings"]} == {"relevant", "language"}


def test_no_language_warning_where_the_labels_are() -> None:
    from monitor.topics.review import Change, ChangeReport

    lost = [Change("article:1", "t", "u", None, 0.1, 0.5, "en")]
    rep = ChangeReport("t", "v", None, 10, 5, 4, [], lost, 4, [], {"en": 5, "fa": 1})
    assert change_warnings(rep) == []
    rep.labels_by_language = {"en": 4, "fa": 9}
    assert [w.kind for w in change_warnings(rep)] == ["language"]


def test_activate_asks_when_the_candidate_drops_such_hits(world: dict[str, Any]) -> None:
    _hit_the_rules_no_longer_find(world, "fa", None)
    r = cli(world, "topics", "rollback", TOPIC)
    assert r.exit_code != 0 and "no previous model to roll back to" in str(r.exception)
    ok(world, "topics", "train", TOPIC)
    store = Store(world["db"])
    topic = load_config(world["cfg"]).topic(TOPIC)
    _, warnings = check_candidate(store, topic, directory=world["models"])
    store.close()
    assert "language" in {w.kind for w in warnings}
    cand = model_path(TOPIC, "candidate", world["models"])
    r = cli(world, "topics", "activate", TOPIC, input="n\n")
    assert r.exit_code == 1 and "nothing changed" in r.output
    assert "WARNING: drops 1 hit(s) in fa, where the topic has 0 label(s)" in r.output
    assert cand.exists() and not model_path(TOPIC, "active", world["models"]).exists()
    first = load_model(cand).model_id
    assert "is active" in ok(world, "topics", "activate", TOPIC, "--yes")

    # a second model, then back to the first (on the same labels the default learner
    # chooses as before, the active model again: the previous learner gives another)
    ok(world, "topics", "train", TOPIC, "--learner", "prevalence")
    second = load_model(cand).model_id
    ok(world, "topics", "activate", TOPIC, "--yes")
    assert load_model(model_path(TOPIC, "active", world["models"])).model_id == second
    out = ok(world, "topics", "rollback", TOPIC)
    assert f"model {first}" in out and "active again" in out
    assert load_model(model_path(TOPIC, "active", world["models"])).model_id == first
    assert rollback(TOPIC, world["models"]).model_id == second  # a rollback undone


def test_activate_without_warnings_does_not_ask(world: dict[str, Any], tmp_path: Path) -> None:
    ok(world, "topics", "train", TOPIC)
    store = Store(world["db"])
    _, warnings = check_candidate(
        store, load_config(world["cfg"]).topic(TOPIC), directory=world["models"]
    )
    store.close()
    r = cli(world, "topics", "activate", TOPIC)  # no input: a question would abort
    assert (r.exit_code == 0) == (not warnings), r.output


def test_a_retrain_that_chooses_as_before_has_nothing_to_activate(world: dict[str, Any]) -> None:
    """The same labels, the same choice: the active model again, same id. `topics train`
    says so and keeps no candidate; an activation of it (a candidate saved before) is
    refused, so the previous model - what a rollback goes back to - is not lost."""
    ok(world, "topics", "train", TOPIC)
    ok(world, "topics", "activate", TOPIC, "--yes")
    active = load_model(model_path(TOPIC, "active", world["models"]))
    cand = model_path(TOPIC, "candidate", world["models"])

    out = ok(world, "topics", "train", TOPIC)
    assert f"{active.model_id} is the same as the active model, nothing to activate" in out
    assert "saved" not in out.replace("no candidate saved", "") and not cand.exists()
    rep = json.loads(ok(world, "topics", "train", TOPIC, "--json"))
    assert rep["same_as_active"] is True and rep["path"] is None and not cand.exists()
    r = cli(world, "topics", "activate", TOPIC, "--yes")
    assert r.exit_code != 0 and "candidate" in str(r.exception)

    save_model(active, "candidate", world["models"])  # as an older newsmon left it
    with pytest.raises(ModelError, match="same as the active model, nothing to activate"):
        activate(TOPIC, world["models"])
    assert not cand.exists() and not model_path(TOPIC, "previous", world["models"]).exists()
    assert load_model(model_path(TOPIC, "active", world["models"])).model_id == active.model_id


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_hits_stored_at_once_twice_are_alerted_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two `--store --alert` at the same time (or one after the pipeline stored the hit):
    one hit, one delivery per target, on SQLite and PostgreSQL."""
    import threading

    from monitor.alerts.routes import Route
    from monitor.alerts.send import route_targets
    from monitor.config import Config
    from tests.test_topics_learn import _item

    url = (
        request.getfixturevalue("pg_url")
        if backend == "postgresql"
        else f"sqlite:///{tmp_path}/n.db"
    )
    store = Store(url)
    store.store_articles([_item(i, f"title {i}", "text", [], "en") for i in range(20)])
    aids = sorted(store.article_ids())
    config = Config(routes=[Route(name="r", urls=["json://127.0.0.1:9/a", "json://127.0.0.1:9/b"])])
    targets = route_targets(config)
    rows = [(a, TOPIC, 0.5, "v1", {"score": 0.5}) for a in aids]
    results: list[tuple[list[int], int]] = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        results.append(store.add_hits(rows, targets))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 2 and sum(len(ids) for ids, _ in results) == 20
    assert sum(q for _, q in results) == 40  # two targets for each of 20 hits, once
    assert len(store.topic_hit_scores(TOPIC)) == 20
    assert len(store.deliveries(limit=1000)) == 40
    assert store.add_hits(rows, targets) == ([], 0)
    store.close()


def test_a_taught_near_miss_stored_as_a_hit_keeps_its_label(world: dict[str, Any]) -> None:
    """ "Teach as hit" on an article, then a broader definition finds it: the stored hit
    carries the analyst's label and the article leaves the near-miss inbox."""
    _lower_threshold(world)
    rep = json.loads(ok(world, "topics", "test", TOPIC, "--model", "none", "--json"))
    taught = int(rep["new_hits"][0]["key"].split(":")[1])
    store = Store(world["db"])
    store.mark_article(taught, TOPIC, "relevant", "the relation is in the lede", by="ana")
    assert store.nonhit_labels(TOPIC) == {taught: "relevant"}
    ok(world, "topics", "test", TOPIC, "--model", "none", "--store", "--yes")
    hit = next(h for h, a in store.hits(topic=TOPIC, limit=500) if a.id == taught)
    assert (hit.label, hit.label_note) == ("relevant", "the relation is in the lede")
    assert hit.labeled_at is not None
    assert store.nonhit_labels(TOPIC) == {}
    assert store.topic_labels(TOPIC)[taught] == "relevant"
    store.close()
