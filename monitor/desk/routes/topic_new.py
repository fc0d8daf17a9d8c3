"""A new topic from example articles, in the desk (``newsmon topics new``'s proposal):
URLs fetched as the pipeline fetches them, or texts pasted; the definition shown as YAML
with its reasons, to paste into topics.yaml (the desk does not edit topics)."""

from __future__ import annotations

import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from monitor.desk.views import Desk, desk_of
from monitor.errors import NewsmonError

MAX_EXAMPLES = 8
MAX_TEXT = 100_000
BACKGROUND = 2000
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SPLIT = re.compile(r"^\s*-{3,}\s*$", re.M)


def _propose(desk: Desk, topic_id: str, name: str, urls: list[str], texts: list[str]) -> Any:
    from monitor.config import FetchSettings
    from monitor.extract.article import extract_text
    from monitor.topics.gazetteer import load_gazetteer
    from monitor.topics.propose import Example, fetch_examples, propose_topic

    settings = desk.config.settings.fetch if desk.config else FetchSettings()
    examples = fetch_examples(urls, settings) if urls else []
    for i, t in enumerate(texts, 1):
        ex = extract_text(t)
        examples.append(Example(ex.title, ex.text, ex.language, f"pasted text {i}"))
    background = [
        Example(a.title, a.text or a.summary or "", a.language)
        for a in desk.store.recent_articles(BACKGROUND)
        if a.text or a.summary or a.title
    ]
    directory = desk.config.directory if desk.config else None
    return propose_topic(
        topic_id, examples, load_gazetteer(directory), background, name=name or None
    )


async def new_topic(request: Request) -> Response:
    """GET: the form; POST (analyst): the proposal."""
    desk = desk_of(request)
    form: dict[str, str] = {"id": "", "name": "", "urls": "", "texts": ""}
    proposal, problem = None, None
    if request.method == "POST":
        fields = await desk.verified_form(request)
        desk.require(request, "analyst")
        form = {k: fields.get(k, "")[: MAX_TEXT * MAX_EXAMPLES] for k in form}
        urls = [u.strip() for u in form["urls"].splitlines() if u.strip()]
        texts = [t.strip() for t in _SPLIT.split(form["texts"]) if t.strip()]
        topic_id = form["id"].strip()
        if not _ID.match(topic_id):
            problem = "the id: lower-case letters, digits, - and _, starting with a letter or digit"
        elif desk.topic(topic_id) is not None:
            problem = f"a topic {topic_id!r} exists already"
        elif not urls and not texts:
            problem = "give at least one example: a URL or a pasted text"
        elif len(urls) + len(texts) > MAX_EXAMPLES:
            problem = f"at most {MAX_EXAMPLES} examples"
        elif any(not re.match(r"^https?://", u, re.I) for u in urls):
            problem = "the URLs must be http:// or https:// addresses, one a line"
        elif any(len(t) > MAX_TEXT for t in texts):
            problem = f"a pasted text is longer than {MAX_TEXT:,} characters"
        else:
            try:
                proposal = await run_in_threadpool(
                    _propose, desk, topic_id, form["name"].strip(), urls, texts
                )
            except NewsmonError as exc:
                problem = str(exc)
    return desk.render(
        request,
        "topic_new.html",
        form=form,
        proposal=proposal,
        problem=problem,
        max_examples=MAX_EXAMPLES,
    )


routes = [Route("/topics/new", new_topic, methods=["GET", "POST"])]
