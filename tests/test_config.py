"""monitor.config: the shipped config loads; a typo is a ConfigError naming file, key, problem."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from monitor.config import RunSettings, load_config
from monitor.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config"
TOPICS_YAML = (DEFAULT_CONFIG / "topics.yaml").read_text(encoding="utf-8")

MINI_TOPICS = """\
topics:
  - id: t1
    name: Topic one
    groups:
      g: {terms: [alpha]}
"""


def make_config(tmp_path: Path, **files: str) -> Path:
    """A config directory with the real topics.yaml unless ``topics`` is given."""
    d = tmp_path / "config"
    d.mkdir(parents=True)
    if "topics" not in files:
        shutil.copy(DEFAULT_CONFIG / "topics.yaml", d / "topics.yaml")
    for name, text in files.items():
        (d / f"{name}.yaml").write_text(text, encoding="utf-8")
    return d


def config_error(d: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(d)
    return info.value


# --- the shipped config ---------------------------------------------------------------


def test_default_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "NEWSMON_SLACK_URL",
        "NEWSMON_TELEGRAM_URL",
        "NEWSMON_MATRIX_URL",
        "NEWSMON_EMAIL_URL",
        "NEWSMON_DIGEST_URL",
    ):
        monkeypatch.delenv(var, raising=False)
    cfg = load_config(DEFAULT_CONFIG)
    assert cfg.directory == DEFAULT_CONFIG
    assert len(cfg.feeds) >= 10
    assert all(f.url.startswith(("http://", "https://")) for f in cfg.feeds)
    assert len({f.url for f in cfg.feeds}) == len(cfg.feeds)
    ids = [t.id for t in cfg.topics]
    assert "caucasus-realignment" in ids
    topic = cfg.topic("caucasus-realignment")
    assert topic.rule is not None
    assert {"azerbaijan", "iran", "region", "relation"} <= set(topic.groups)
    assert len(topic.version) == 12
    # routes ship with ${VAR:-} URLs: with the variables unset every target is off
    assert [r.name for r in cfg.routes] == ["caucasus-desk", "analysts-email", "daily-digest"]
    assert all(r.urls == [] for r in cfg.routes)
    assert all(t == "*" or t in ids for r in cfg.routes for t in r.topics)
    assert cfg.settings.fetch.allow_private_networks is False
    with pytest.raises(KeyError):
        cfg.topic("no-such-topic")


def test_config_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = make_config(tmp_path, topics=MINI_TOPICS)
    monkeypatch.setenv("NEWSMON_CONFIG", str(d))
    assert [t.id for t in RunSettings.from_environment(os.environ).config().topics] == ["t1"]


def test_missing_directory(tmp_path: Path) -> None:
    err = config_error(tmp_path / "nope")
    assert "nope" in str(err) and "not found" in str(err)


def test_missing_topics_file(tmp_path: Path) -> None:
    d = tmp_path / "c"
    d.mkdir()
    err = config_error(d)
    assert err.file.endswith("topics.yaml")
    assert "file not found" in str(err)


def test_unexpected_file_is_named(tmp_path: Path) -> None:
    # "alert.yaml" instead of "alerts.yaml" would otherwise be silently ignored.
    d = make_config(tmp_path, alert="routes: []\n")
    err = config_error(d)
    assert err.file.endswith("alert.yaml")
    assert "unexpected file" in str(err) and "alerts.yaml" in str(err)


# --- feeds.yaml -----------------------------------------------------------------------


def test_unknown_key_in_feed(tmp_path: Path) -> None:
    d = make_config(
        tmp_path,
        feeds=(
            "feeds:\n"
            "  - url: https://a.example/feed\n"
            "    name: A\n"
            "  - url: https://b.example/feed\n"
            "    nmae: B\n"
        ),
    )
    err = config_error(d)
    assert err.file == str(d / "feeds.yaml")
    assert err.key == "feeds[1].nmae"
    assert "unknown key 'nmae'" in err.problem
    assert str(err) == f"{d / 'feeds.yaml'}: feeds[1].nmae: unknown key 'nmae'"


def test_feed_key_that_shares_a_rule_tag_name_is_kept(tmp_path: Path) -> None:
    # "name" is also the tag of a plain-string rule; the path must still say ".name".
    d = make_config(tmp_path, feeds="feeds:\n  - url: https://a.example/\n    name: [x, y]\n")
    err = config_error(d)
    assert err.key == "feeds[0].name"
    assert "valid string" in err.problem


def test_feed_url_not_http(tmp_path: Path) -> None:
    d = make_config(tmp_path, feeds="feeds:\n  - url: ftp://a.example/feed\n")
    err = config_error(d)
    assert err.key == "feeds[0].url"
    assert "not an http(s) URL" in err.problem and "ftp://a.example/feed" in err.problem


def test_feed_listed_twice(tmp_path: Path) -> None:
    d = make_config(
        tmp_path,
        feeds=("feeds:\n  - url: https://a.example/feed\n  - url: https://a.example/feed\n"),
    )
    err = config_error(d)
    assert "feed listed twice: https://a.example/feed" in str(err)


def test_missing_required_feed_url(tmp_path: Path) -> None:
    d = make_config(tmp_path, feeds="feeds:\n  - name: No URL\n")
    err = config_error(d)
    assert err.key == "feeds[0].url"
    assert err.problem == "required key 'url' is missing"


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    d = make_config(
        tmp_path,
        feeds=(
            "feeds:\n"  # line 1
            "  - url: https://a.example/feed\n"  # line 2
            "\tname: tabbed\n"  # line 3: a tab cannot start a token
            "  - url: https://b.example/feed\n"
        ),
    )
    err = config_error(d)
    assert err.file == str(d / "feeds.yaml")
    assert err.key == "line 3"
    assert "invalid YAML" in err.problem
    assert str(err).startswith(f"{d / 'feeds.yaml'}: line 3: invalid YAML")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    d = make_config(tmp_path, feeds="- https://a.example/feed\n")
    assert "expected a mapping at the top level" in str(config_error(d))


def test_unknown_setting(tmp_path: Path) -> None:
    d = make_config(tmp_path, settings="fetch:\n  timeout: 3\n")
    err = config_error(d)
    assert err.file.endswith("settings.yaml")
    assert err.key == "fetch.timeout"
    assert "unknown key 'timeout'" in err.problem


def test_shipped_routes_come_alive_with_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSMON_SLACK_URL", "slack://TokenA/TokenB/TokenC/#caucasus")
    monkeypatch.setenv("NEWSMON_TELEGRAM_URL", "not-a-url-at-all")
    err = config_error(DEFAULT_CONFIG)
    assert err.file.endswith("alerts.yaml")
    assert err.key == "routes[0].urls[1]"
    monkeypatch.setenv("NEWSMON_TELEGRAM_URL", "tgram://123456789:abcdefg_hijklmnop/12315544")
    cfg = load_config(DEFAULT_CONFIG)
    assert len(cfg.routes[0].urls) == 2


def test_settings_values(tmp_path: Path) -> None:
    d = make_config(tmp_path, settings="fetch:\n  timeout_s: 3\n  per_host_concurrency: 1\n")
    cfg = load_config(d)
    assert cfg.settings.fetch.timeout_s == 3
    assert cfg.settings.fetch.per_host_concurrency == 1
    assert cfg.settings.alerts.dead_after_hours == 48  # defaults untouched


# --- topics.yaml ----------------------------------------------------------------------


def _topics_with(tmp_path: Path, old: str, new: str) -> Path:
    assert old in TOPICS_YAML, f"the fixture edit no longer applies: {old!r}"
    return make_config(tmp_path, topics=TOPICS_YAML.replace(old, new, 1))


def test_rule_with_unknown_node_key(tmp_path: Path) -> None:
    d = _topics_with(
        tmp_path, "- group: region\n          min: 2", "- grop: region\n          min: 2"
    )
    err = config_error(d)
    assert err.file == str(d / "topics.yaml")
    assert err.key == "topics[0].rule.any[0]"
    assert "a rule is a group name or a mapping" in err.problem


def test_rule_naming_unknown_group(tmp_path: Path) -> None:
    d = _topics_with(
        tmp_path,
        "- any: [azerbaijan, armenia, georgia]\n",
        "- any: [azerbaijan, armenai, georgia]\n",
    )
    err = config_error(d)
    assert err.file == str(d / "topics.yaml")
    assert err.key == "topics[0].rule"
    assert "unknown group 'armenai'" in err.problem
    assert "armenia" in err.problem  # lists the groups that do exist


def test_typo_deep_in_a_rule_gives_the_full_path(tmp_path: Path) -> None:
    d = _topics_with(tmp_path, "at_least: 2\n", "at_leest: 2\n")
    err = config_error(d)
    assert err.key == "topics[0].rule.any[1].sentence.all[1].at_leest"
    assert "unknown key 'at_leest'" in err.problem


def test_rule_of_wrong_type(tmp_path: Path) -> None:
    d = make_config(tmp_path, topics=MINI_TOPICS + "    rule: {any: [g, 3]}\n")
    err = config_error(d)
    assert err.key == "topics[0].rule.any[1]"
    assert "a rule is a group name" in err.problem


def test_bad_term_and_bad_number(tmp_path: Path) -> None:
    d = make_config(tmp_path, topics=MINI_TOPICS.replace("[alpha]", "[alpha, {txt: beta}]"))
    err = config_error(d)
    assert err.key == "topics[0].groups.g.terms[1].txt"
    assert "unknown key 'txt'" in err.problem
    d2 = _topics_with(tmp_path / "b", "saturation: 3\n", "saturation: 0\n")
    err2 = config_error(d2)
    assert err2.key == "topics[0].saturation"
    assert "greater than 0" in err2.problem


def test_topic_id_used_twice(tmp_path: Path) -> None:
    body = MINI_TOPICS + MINI_TOPICS.removeprefix("topics:\n")
    err = config_error(make_config(tmp_path, topics=body))
    assert "topic id used twice: t1" in str(err)


def test_topic_version_follows_definition(tmp_path: Path) -> None:
    a = load_config(make_config(tmp_path / "a", topics=MINI_TOPICS)).topic("t1")
    b = load_config(make_config(tmp_path / "b", topics=MINI_TOPICS)).topic("t1")
    c = load_config(
        make_config(tmp_path / "c", topics=MINI_TOPICS.replace("[alpha]", "[alpha, beta]"))
    ).topic("t1")
    assert a.version == b.version
    assert a.version != c.version


# --- alerts.yaml ----------------------------------------------------------------------


def test_route_with_unknown_topic(tmp_path: Path) -> None:
    d = make_config(
        tmp_path,
        alerts=(
            "routes:\n"
            "  - name: desk\n"
            "    topics: [caucasus-realignment, caucasus-realignmnt]\n"
            "    urls: ['json://127.0.0.1:9/hook']\n"
        ),
    )
    err = config_error(d)
    assert err.file == str(d / "alerts.yaml")
    assert err.key == "routes[0].topics"
    assert "unknown topic 'caucasus-realignmnt'" in err.problem
    assert "caucasus-realignment" in err.problem.split("(topics:")[1]


def test_unset_env_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSMON_TEST_UNSET_HOOK", raising=False)
    d = make_config(
        tmp_path,
        alerts=(
            "routes:\n"
            "  - name: desk\n"
            "    urls: ['json://127.0.0.1:9/hook', '${NEWSMON_TEST_UNSET_HOOK}']\n"
        ),
    )
    err = config_error(d)
    assert err.file == str(d / "alerts.yaml")
    assert err.key == "routes[0].urls[1]"
    assert err.problem == "environment variable NEWSMON_TEST_UNSET_HOOK is not set"


def test_env_substitution_and_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSMON_TEST_HOOK_PORT", "8123")
    monkeypatch.delenv("NEWSMON_TEST_NOT_SET", raising=False)
    monkeypatch.delenv("NEWSMON_TEST_SLACK", raising=False)
    d = make_config(
        tmp_path,
        alerts=(
            "routes:\n"
            "  - name: desk\n"
            "    urls:\n"
            "      - 'json://127.0.0.1:${NEWSMON_TEST_HOOK_PORT}/hook'\n"
            "      - 'json://${NEWSMON_TEST_NOT_SET:-127.0.0.2}:9/x'\n"
            "      - '${NEWSMON_TEST_SLACK:-}'\n"
        ),
    )
    route = load_config(d).routes[0]
    # the empty ${VAR:-} switched its URL off instead of failing
    assert route.urls == ["json://127.0.0.1:8123/hook", "json://127.0.0.2:9/x"]
    assert route.topics == ["*"]
    assert route.wants("caucasus-realignment", 0.1)


def test_env_set_to_a_value_replaces_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSMON_TEST_SLACK", "json://127.0.0.1:7/set")
    d = make_config(
        tmp_path, alerts=("routes:\n  - name: desk\n    urls: ['${NEWSMON_TEST_SLACK:-}']\n")
    )
    assert load_config(d).routes[0].urls == ["json://127.0.0.1:7/set"]


def test_loading_again_reads_edits_and_the_environment_of_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A served process loads the same directory every cycle and keeps each file's parse
    # while its text is unchanged: an edit, a changed variable, or a change made to
    # the previous Config must all show (or not leak) in the next load.
    monkeypatch.setenv("NEWSMON_TEST_HOOK_PORT", "8123")
    routes = "routes:\n  - name: desk\n    urls: ['json://127.0.0.1:${NEWSMON_TEST_HOOK_PORT}/h']\n"
    d = make_config(tmp_path, alerts=routes, feeds="feeds:\n  - url: https://a.example/f\n")
    first = load_config(d)
    assert [f.url for f in first.feeds] == ["https://a.example/f"]
    first.feeds[0].url = "https://changed.example/f"
    first.routes[0].urls.append("json://127.0.0.1:9/extra")
    monkeypatch.setenv("NEWSMON_TEST_HOOK_PORT", "8124")
    again = load_config(d)
    assert [f.url for f in again.feeds] == ["https://a.example/f"]
    assert again.routes[0].urls == ["json://127.0.0.1:8124/h"]
    (d / "feeds.yaml").write_text(
        "feeds:\n  - url: https://a.example/f\n  - url: https://b.example/f\n", encoding="utf-8"
    )
    assert [f.url for f in load_config(d).feeds] == ["https://a.example/f", "https://b.example/f"]


def test_url_apprise_does_not_understand(tmp_path: Path) -> None:
    d = make_config(
        tmp_path,
        alerts=(
            "routes:\n"
            "  - name: desk\n"
            "    urls: ['json://127.0.0.1:9/ok', 'nosuchservice://s3cr3tT0ken@host/']\n"
        ),
    )
    err = config_error(d)
    assert err.file == str(d / "alerts.yaml")
    assert err.key == "routes[0].urls[1]"
    assert "apprise does not understand this URL" in err.problem
    assert "nosuchservice" in err.problem
    assert "s3cr3tT0ken" not in str(err)  # credentials never printed


def test_route_name_and_duplicates(tmp_path: Path) -> None:
    err = config_error(make_config(tmp_path / "a", alerts="routes:\n  - name: 'bad name!'\n"))
    assert err.key == "routes[0].name"
    err = config_error(
        make_config(tmp_path / "b", alerts=("routes:\n  - name: desk\n  - name: desk\n"))
    )
    assert "route name used twice: desk" in str(err)


def test_valid_routes(tmp_path: Path) -> None:
    d = make_config(
        tmp_path,
        alerts=(
            "routes:\n"
            "  - name: desk\n"
            "    topics: [caucasus-realignment]\n"
            "    min_score: 0.5\n"
            "    mode: digest\n"
            "    format: html\n"
            "    urls: ['mailto://user:pw@127.0.0.1:2525"
            "?from=n@example.org&to=a@example.org&mode=insecure']\n"
        ),
    )
    route = load_config(d).routes[0]
    assert route.mode == "digest" and route.format == "html"
    assert route.wants("caucasus-realignment", 0.5)
    assert not route.wants("caucasus-realignment", 0.49)
    assert not route.wants("iran-nuclear", 0.9)
