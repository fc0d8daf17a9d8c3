"""``newsmon topics`` (list, explain, train, test, activate, eval) and ``newsmon extract``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.cli.app import (
    AllowHostOpt,
    Ctx,
    JsonOpt,
    TopicOpt,
    _ctx,
    _dump,
    _when,
    app,
    clean,
    echo,
    topics_app,
)
from monitor.errors import ConfigError


def _load_article(source: str, ctx: Ctx) -> Any:
    import asyncio

    from monitor.extract.article import extract_file, extract_html

    if re.match(r"^https?://", source, re.I):
        from monitor.config import FetchSettings
        from monitor.fetch.http import PAGE_ACCEPT, Fetcher

        settings = (
            ctx.config.settings.fetch
            if _has_config(ctx)
            else FetchSettings(allow_hosts=list(ctx.settings.allow_hosts))
        )

        async def get() -> Any:
            async with Fetcher(settings) as f:
                return await f.fetch(source, accept=PAGE_ACCEPT)

        res = asyncio.run(get())
        return extract_html(res.body or b"", res.url)
    return extract_file(source)


def _has_config(ctx: Ctx) -> bool:
    try:
        return ctx.config is not None
    except ConfigError:
        return False


@app.command()
def extract(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(help="URL, or a saved HTML page (.html, .html.gz) or text file.")
    ],
    allow_host: AllowHostOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Extract an article's text and metadata, as the pipeline does."""
    c = _ctx(ctx)
    c.allow(allow_host)
    ex = _load_article(source, c)
    if json_out:
        _dump(ex.as_dict())
        return
    echo(
        f"title: {clean(ex.title)}\nauthor: {clean(ex.author)}\npublished: "
        f"{_when(ex.published)}\nlanguage: {ex.language}\n"
    )
    echo("\n".join(clean(p) for p in (ex.text or "").split("\n")).replace(" ", " "))


@topics_app.command("list")
def topics_list(ctx: typer.Context) -> None:
    """The configured topics."""
    from monitor.topics.model import active_models, model_path

    topics = _ctx(ctx).config.topics
    models = active_models(topics)
    for t in topics:
        echo(
            f"{t.id}  ({t.name}, version {t.version}, threshold {t.threshold}): "
            f"{clean(t.description or '', 100)}"
        )
        m = models.get(t.id)
        if m is not None:
            state = (
                ""
                if m.topic_version == t.version
                else (f" - STALE: trained for version {m.topic_version}, rules alone decide")
            )
            echo(f"    model {m.model_id} active ({m.n_labels} reviewed labels){state}")
        if model_path(t.id, "candidate").exists():
            echo(f"    a candidate model waits: `newsmon topics test {t.id}`, then `activate`")


@topics_app.command("explain")
def topics_explain(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="URL, or a saved HTML page or text file.")],
    topic: TopicOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Why an article is (or is not) a hit for each topic: rule, groups, terms, sentences."""
    from monitor.topics.match import Classifier

    c = _ctx(ctx)
    topics = [c.config.topic(topic)] if topic else c.config.topics
    ex = _load_article(source, c)
    results = Classifier(topics).classify(ex.title, ex.text, language=ex.language)
    if json_out:
        _dump([r.as_dict() for r in results])
        return
    echo(f"{clean(ex.title)}  (language {ex.language or '?'})\n")
    for r in results:
        ev = r.evidence
        echo(
            f"{r.topic}: {'HIT' if r.matched else 'no'}  score {r.score:.2f} "
            f"(threshold {ev.get('threshold')}), "
            f"rule {'passed' if ev.get('rule_passed') else 'failed'}"
        )
        echo(f"  rule: {clean(ev.get('rule', ''))}")
        for g, info in sorted(
            (ev.get("groups") or {}).items(), key=lambda kv: -kv[1].get("contribution", 0)
        ):
            if info.get("count"):
                terms = ", ".join(f"{clean(t)}×{n}" for t, n in list(info["terms"].items())[:6])
                echo(f"    {g:<12} +{info.get('contribution', 0):.3f}  {terms}")
        if ev.get("cancelled"):
            echo(f"  cancelled: {clean(ev['cancelled'])}")
        _echo_model(ev)
        for s in ev.get("sentences", [])[:3]:
            echo(f"  > {clean(s.get('text'), 300)}")
        echo()


def _echo_model(ev: dict[str, Any]) -> None:
    """The model part of a decision's evidence, if a model took part."""
    m = ev.get("model")
    if not m:
        return
    if not m.get("used", True) and m.get("reason"):
        echo(f"  model: not used - {clean(m['reason'])}")
        return
    echo(
        f"  model {m.get('id')}: P(relevant) {m.get('probability', 0):.2f} "
        f"(rules alone: score {ev.get('rule_score', 0):.2f}, "
        f"{'hit' if ev.get('rule_matched') else 'no hit'}); strongest features:"
    )
    feats = m.get("features") or []
    echo("    " + ", ".join(f"{clean(f['feature'])} {f['contribution']:+.2f}" for f in feats[:8]))


def _topic_or_exit(c: Ctx, topic_id: str) -> Any:
    try:
        return c.config.topic(topic_id)
    except KeyError:
        known = ", ".join(t.id for t in c.config.topics)
        raise typer.BadParameter(f"unknown topic {topic_id!r} (topics: {known})") from None


LearnerOpt = Annotated[
    str,
    typer.Option(
        help="estimate (the default): rules, calibrated rules or model, whichever the "
        "labels support out of fold; prevalence: always the model, as many hits as the "
        "rules flag after the corrections (the previous learner, for comparison)."
    ),
]


def _learner(name: str) -> str:
    if name not in {"estimate", "prevalence"}:
        raise typer.BadParameter("--learner must be estimate or prevalence")
    return name


@topics_app.command("train")
def topics_train(
    ctx: typer.Context,
    topic_id: Annotated[str, typer.Argument(metavar="TOPIC", help="Topic id.")],
    limit: Annotated[
        int, typer.Option(help="At most this many stored articles (newest first).")
    ] = 20_000,
    learner: LearnerOpt = "estimate",
    json_out: JsonOpt = False,
) -> None:
    """Train the topic's model from reviewed hits and seeds; saved as a candidate
    (`newsmon topics test` shows what it would change, `activate` puts it to use)."""
    from monitor.topics.model import SAME_AS_ACTIVE, save_candidate
    from monitor.topics.review import load_pool, train_topic

    c = _ctx(ctx)
    topic = _topic_or_exit(c, topic_id)
    pool = load_pool(c.store(), topic, config_dir=c.config.directory, limit=limit)
    rep = train_topic(topic, pool, progress=None if json_out else echo, learner=_learner(learner))
    path = save_candidate(rep.model)  # None: the active model again, nothing saved
    chk = rep.check
    if json_out:
        _dump(
            {
                "topic": topic.id,
                "model": rep.model.model_id,
                "kind": rep.kind,
                "cv_f1": rep.model.metrics.get("cv_f1"),
                "same_as_active": path is None,
                "path": str(path) if path is not None else None,
                "pool": rep.pool,
                "labels": {"relevant": rep.labels_relevant, "irrelevant": rep.labels_irrelevant},
                "rule_hits": rep.rule_hits,
                "model_hits": rep.model_hits,
                "threshold": rep.model.threshold,
                "labels_rules_correct": chk.rules_correct,
                "labels_model_correct_cv": chk.model_correct,
                "top_positive": rep.top_positive,
                "top_negative": rep.top_negative,
            }
        )
        return
    echo(
        f"{topic.id}: trained {'model' if path is None else 'candidate model'} "
        f"{rep.model.model_id} on {rep.pool} articles "
        f"({rep.labels_relevant} reviewed relevant, {rep.labels_irrelevant} irrelevant; "
        f"the rest labelled by the rules)"
    )
    echo(
        f"  on the stored articles: rules {rep.rule_hits} hits, model {rep.model_hits} hits "
        f"(P(relevant) >= {rep.model.threshold:.2f})"
    )
    cv = rep.model.metrics.get("cv_f1") or {}
    if cv:
        echo(
            f"  decides: {rep.kind} (F1 on the labels, out of fold: "
            + ", ".join(f"{k} {v:.2f}" for k, v in cv.items())
            + ")"
        )
    if chk.model_correct is not None:
        echo(
            f"  reviewed labels: rules agree on {chk.rules_correct}/{chk.n}, the model on "
            f"{chk.model_correct}/{chk.n} ({chk.folds}-fold: each label unseen when scored)"
        )
    else:
        echo(
            f"  reviewed labels: rules agree on {chk.rules_correct}/{chk.n} "
            f"(too few labels of both kinds to cross-check the model)"
        )
    echo("  words for:     " + ", ".join(f"{clean(f)} {w:+.1f}" for f, w in rep.top_positive))
    echo("  words against: " + ", ".join(f"{clean(f)} {w:+.1f}" for f, w in rep.top_negative))
    if path is None:
        echo(
            f"\n{rep.model.model_id} is the {SAME_AS_ACTIVE} (the labels chose as before); "
            "no candidate saved"
        )
        return
    echo(
        f"\nsaved {path}\nnext: `newsmon topics test {topic.id}` to see what it would change, "
        f"`newsmon topics activate {topic.id}` to use it"
    )


YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking.")]


@topics_app.command("test")
def topics_test(
    ctx: typer.Context,
    topic_id: Annotated[str, typer.Argument(metavar="TOPIC", help="Topic id.")],
    model: Annotated[
        str, typer.Option(help="candidate (default if one exists), active, or none (rules alone).")
    ] = "auto",
    show: Annotated[int, typer.Option(help="List at most this many of each.")] = 15,
    store: Annotated[
        bool, typer.Option("--store", help="Store the new hits (after a confirmation).")
    ] = False,
    alert: Annotated[
        bool, typer.Option("--alert", help="With --store: queue the stored hits' alerts.")
    ] = False,
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Re-score the stored articles with the current definition (and model): new hits,
    lost hits, labelled hits affected, seed examples - before anything is used; with
    --store, store the new hits (and with --alert, alert them once)."""
    from monitor.pipeline.found_hits import store_found_hits
    from monitor.topics.loop import change_warnings, model_of
    from monitor.topics.review import compare_topic

    c = _ctx(ctx)
    topic = _topic_or_exit(c, topic_id)
    if model not in {"auto", "candidate", "active", "none"}:
        raise typer.BadParameter("--model must be candidate, active or none")
    if alert and not store:
        raise typer.BadParameter("--alert alerts the hits --store stores: give both")
    if store and json_out and not yes:
        raise typer.BadParameter("--store with --json cannot ask: add --yes")
    chosen = model_of(topic.id, model)
    kind = model if model != "auto" else ("none" if chosen is None else _kind_of(topic.id))
    rep = compare_topic(c.store(), topic, chosen, config_dir=c.config.directory)
    warnings = change_warnings(rep)
    if json_out:
        out: dict[str, Any] = {
            "topic": rep.topic,
            "version": rep.version,
            "model": rep.model,
            "model_kind": kind,
            "articles": rep.articles,
            "stored_hits": rep.stored_hits,
            "hits_now": rep.hits_now,
            "kept": rep.kept,
            "new_hits": [vars(x) for x in rep.new_hits],
            "lost_hits": [vars(x) for x in rep.lost_hits],
            "seeds": [
                {"ref": r, "expected_hit": e, "hit": h, "score": s} for r, e, h, s in rep.seeds
            ],
            "labels_by_language": rep.labels_by_language,
            "warnings": [w.as_dict() for w in warnings],
        }
        if store:
            done = store_found_hits(c.store(), rep, topic, c.config, alert)
            out["stored"] = {
                "hit_ids": done.hit_ids,
                "deliveries": done.deliveries,
                "folded": done.folded,
            }
        _dump(out)
        return
    _echo_report(rep, kind, chosen, topic, show)
    _echo_warnings(warnings)
    if not store:
        return
    if not rep.new_hits:
        echo("\nno new hits to store")
        return
    what = f"store {len(rep.new_hits)} new hits for {topic.id} (version {rep.version})"
    what += " and queue their alerts" if alert else " without alerting them"
    if warnings:
        what += " (see the warnings above)"
    if not yes and not typer.confirm(f"\n{what}?", default=False):
        echo("nothing stored")
        return
    done = store_found_hits(c.store(), rep, topic, c.config, alert)
    echo(
        f"stored {len(done.hit_ids)} hits"
        + (f", {done.deliveries} alert deliveries queued" if alert else "")
        + (f", {done.folded} only updated their story's alert" if done.folded else "")
        + (
            f" ({len(rep.new_hits) - len(done.hit_ids)} were stored meanwhile: left alone)"
            if len(done.hit_ids) < len(rep.new_hits)
            else ""
        )
    )


def _kind_of(topic_id: str) -> str:
    from monitor.topics.model import model_path

    return "candidate" if model_path(topic_id, "candidate").exists() else "active"


def _targets(c: Ctx) -> Any:
    from monitor.alerts.send import route_targets

    return route_targets(c.config)


def _echo_report(rep: Any, kind: str, chosen: Any, topic: Any, show: int) -> None:
    using = f"{kind} model {rep.model}" if rep.model else "rules alone"
    if chosen is not None and chosen.topic_version != topic.version:
        echo(
            f"warning: the {kind} model was trained for version {chosen.topic_version}; "
            f"rules alone decide (retrain: newsmon topics train {topic.id})"
        )
    echo(f"{topic.id} version {rep.version} with {using}, on {rep.articles} stored articles:")
    echo(
        f"  {rep.stored_hits} hits stored now -> {rep.hits_now} hits: {len(rep.new_hits)} new, "
        f"{len(rep.lost_hits)} lost, {rep.kept} kept"
    )
    echo(
        f"  of the lost: {rep.lost_relevant} marked relevant (a loss), "
        f"{rep.dropped_irrelevant} marked irrelevant (a fix)"
    )

    def lines(title: str, rows: list[Any]) -> None:
        if not rows:
            return
        echo(f"\n  {title}:")
        for x in rows[:show]:
            lab = {True: "relevant", False: "irrelevant", None: "-"}[x.label]
            was = f" (was {x.old_score:.2f})" if x.old_score is not None else ""
            echo(f"    {x.score:.2f}{was}  [{lab}]  ({x.language or '?'}) {clean(x.title, 90)}")
        if len(rows) > show:
            echo(f"    ... {len(rows) - show} more (--show N, or --json)")

    lines("new hits", rep.new_hits)
    lines("lost hits", rep.lost_hits)
    if rep.seeds:
        echo("\n  seed examples:")
        for ref, expected, hit, score in rep.seeds:
            ok = "ok  " if expected == hit else "FAIL"
            echo(
                f"    {ok} {'hit ' if expected else 'miss'} expected, "
                f"{'hit' if hit else 'no hit'} ({score:.2f}): {clean(ref)}"
            )


def _echo_warnings(warnings: list[Any]) -> None:
    for w in warnings:
        echo(f"\nWARNING: {w.message}:")
        for x in w.changes[:10]:
            echo(f"    ({x.language or '?'}) {clean(x.title, 90)}")
        if len(w.changes) > 10:
            echo(f"    ... {len(w.changes) - 10} more")


@topics_app.command("activate")
def topics_activate(
    ctx: typer.Context,
    topic_id: Annotated[str, typer.Argument(metavar="TOPIC", help="Topic id.")],
    yes: YesOpt = False,
) -> None:
    """Use the topic's candidate model from now on (the previous one is kept). When it
    would drop a hit labelled relevant, or hits in a language with few labels, it asks."""
    from monitor.topics.loop import activate, check_candidate

    c = _ctx(ctx)
    topic = _topic_or_exit(c, topic_id)
    rep, warnings = check_candidate(c.store(), topic, config_dir=c.config.directory)
    if warnings:
        _echo_warnings(warnings)
        if not yes and not typer.confirm(
            f"\nactivate model {rep.model} for {topic.id} all the same?", default=False
        ):
            echo("nothing changed")
            raise typer.Exit(1)
    m = activate(topic.id, expected=rep.model)  # refused if retrained since the check
    note = (
        ""
        if m.topic_version == topic.version
        else (
            f" - but it was trained for version {m.topic_version} and the topic is now "
            f"{topic.version}: rules alone decide until you retrain"
        )
    )
    echo(f"{topic.id}: model {m.model_id} is active ({m.n_labels} reviewed labels){note}")


@topics_app.command("rollback")
def topics_rollback(
    ctx: typer.Context, topic_id: Annotated[str, typer.Argument(metavar="TOPIC", help="Topic id.")]
) -> None:
    """Use the topic's previous model again (the one it replaces becomes the previous)."""
    from monitor.topics.loop import rollback

    topic = _topic_or_exit(_ctx(ctx), topic_id)
    m = rollback(topic.id)
    echo(f"{topic.id}: model {m.model_id} (trained {m.trained_at}) is active again")


@topics_app.command("deactivate")
def topics_deactivate(
    ctx: typer.Context, topic_id: Annotated[str, typer.Argument(metavar="TOPIC", help="Topic id.")]
) -> None:
    """Stop using the topic's model: rules alone decide (the model file is kept)."""
    from monitor.topics.model import deactivate

    topic = _topic_or_exit(_ctx(ctx), topic_id)
    echo(f"{topic.id}: {'model deactivated' if deactivate(topic.id) else 'no active model'}")


@topics_app.command("eval")
def topics_eval(
    ctx: typer.Context,
    dataset: Annotated[
        Path,
        typer.Option(
            help='JSON lines: {"id", "title", "text", "labels": [...], "split": "train"|"test"}.'
        ),
    ],
    topics_file: Annotated[
        Path | None, typer.Option("--topics", help="A topics YAML file (default: the config's).")
    ] = None,
    feedback: Annotated[
        int | None,
        typer.Option(
            help="Also simulate review: N stories per topic proposed from the train "
            "split, labelled from the truth, a model trained."
        ),
    ] = None,
    calibrate: Annotated[
        bool, typer.Option(help="Also rules with thresholds calibrated on the train split.")
    ] = False,
    learner: LearnerOpt = "estimate",
    json_out: JsonOpt = False,
) -> None:
    """Precision, recall and F1 per topic (micro and macro) on a labelled dataset."""
    from monitor.config import load_yaml_model
    from monitor.topics.evaluate import (
        feedback_run,
        format_table,
        load_dataset,
        prepare,
        rules_run,
    )
    from monitor.topics.language import TopicsFile

    c = _ctx(ctx)
    topics = load_yaml_model(topics_file, TopicsFile).topics if topics_file else c.config.topics
    items = load_dataset(dataset)
    n_train = sum(1 for it in items if it.split == "train")
    if (feedback or calibrate) and not n_train:
        raise typer.BadParameter("--feedback and --calibrate need a train split in the dataset")
    data = prepare(topics, items)
    runs = [rules_run(topics, data)]
    if calibrate:
        runs.append(rules_run(topics, data, calibrate=True))
    if feedback:
        runs.append(feedback_run(topics, data, feedback, learner=_learner(learner)))
    if json_out:
        _dump([r.as_dict() for r in runs])
        return
    echo(f"{len(items) - n_train} test articles ({n_train} train), {len(topics)} topics\n")
    echo(format_table(runs, [t.id for t in topics]))
