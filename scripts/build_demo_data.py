"""Rebuild monitor/demo/data/ from the shared real-world corpora.

Run from the project root:  .venv/bin/python scripts/build_demo_data.py [CORPORA_DIR]
(default CORPORA_DIR: ../shared/corpora). The output is committed; this script only
documents and reproduces how it was made. See monitor/demo/data/SOURCES.md.
"""

from __future__ import annotations

import email.utils
import html
import json
import re
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "monitor" / "demo" / "data"
CORPORA = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "corpora"
NEWS = CORPORA / "news-pages" / "tests" / "resources" / "parser" / "test_data"
F1_FEED = CORPORA / "feeds-real" / "feeds" / "7d65af8ecbfc9ee4"
CAUCASUS_TXT = CORPORA / "caucasus-example" / "iran-azerbaijan-thaw.txt"

# --- the caucasus article: corpus text, our page wrapper -------------------------------------

CAUCASUS_SLUG = "caucasus-iran-azerbaijan-thaw"
# The corpus text has no title, date or author: these three are ours (see SOURCES.md).
CAUCASUS_TITLE = (
    "Iran and Azerbaijan signal a thaw as Pezeshkian visits Baku: what it means for Israel"
)
CAUCASUS_DATE = datetime(2025, 4, 28, 16, 0, tzinfo=UTC)
CAUCASUS_AUTHOR = "Demo Analysis Desk"


def is_subheading(line: str) -> bool:
    return len(line) < 80 and not line.rstrip().endswith((".", "?", "!", "\u201d", '"'))


def caucasus_lines() -> list[str]:
    return [
        ln.strip() for ln in CAUCASUS_TXT.read_text(encoding="utf-8").splitlines() if ln.strip()
    ]


def first_sentence(text: str) -> str:
    m = re.match(r"(.+?[.!?])\s", text + " ")
    return m.group(1) if m else text


def build_caucasus_page() -> str:
    lines = caucasus_lines()
    body = []
    for ln in lines:
        tag = "h2" if is_subheading(ln) else "p"
        body.append(f"        <{tag}>{html.escape(ln, quote=False)}</{tag}>")
    t = html.escape(CAUCASUS_TITLE)
    lead = html.escape(first_sentence(lines[0]))
    iso = CAUCASUS_DATE.isoformat().replace("+00:00", "Z")
    human = CAUCASUS_DATE.strftime("%-d %B %Y")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{t} | Newsmon Demo Review</title>
  <meta name="description" content="{lead}">
  <meta name="author" content="{CAUCASUS_AUTHOR}">
  <meta property="og:type" content="article">
  <meta property="og:site_name" content="Newsmon Demo Review">
  <meta property="og:title" content="{t}">
  <meta property="og:description" content="{lead}">
  <meta property="article:published_time" content="{iso}">
  <meta property="article:section" content="Caucasus">
</head>
<body>
  <header class="site-header">
    <a class="logo" href="/">Newsmon Demo Review</a>
    <nav>
      <ul>
        <li><a href="/world/">World</a></li>
        <li><a href="/middle-east/">Middle East</a></li>
        <li><a href="/caucasus/">Caucasus</a></li>
        <li><a href="/analysis/">Analysis</a></li>
        <li><a href="/about/">About</a></li>
      </ul>
    </nav>
  </header>
  <main>
    <article>
      <header>
        <h1>{t}</h1>
        <p class="byline">By <span class="author">{CAUCASUS_AUTHOR}</span>,
          <time datetime="{iso}">{human}</time></p>
      </header>
      <div class="article-body">
{chr(10).join(body)}
      </div>
    </article>
  </main>
  <footer class="site-footer">
    <p>Newsmon Demo Review is a stand-in page for the newsmon offline demo.
      <a href="/terms/">Terms</a> &middot; <a href="/privacy/">Privacy</a></p>
  </footer>
</body>
</html>
"""


# --- real pages from news-pages (fundus test data) -------------------------------------------

# (country dir, fundus file, publisher json, version key, our name, role)
NEWS_PAGES = [
    ("uk", "EuronewsEN_2024_04_30.html.gz", "EuronewsEN", "V1", "euronews-2024-04-30"),
    ("us", "APNews_2023_04_28.html.gz", "APNews", "V1", "apnews-2023-04-28"),
    ("uk", "TheGuardian_2024_02_24.html.gz", "TheGuardian", "V1", "guardian-2024-02-24"),
    ("za", "TimesLive_2025_05_22.html.gz", "TimesLive", "V1", "timeslive-2025-05-22"),
    ("ca", "CBCNews_2024_08_08.html.gz", "CBCNews", "V1", "cbcnews-2024-08-08"),
    ("ca", "GlobalNews_2026_05_24.html.gz", "GlobalNews", "V1", "globalnews-2026-05-24"),
]


def news_page_meta(cc: str, fname: str, pub: str, version: str) -> dict:
    gt = json.loads((NEWS / cc / f"{pub}.json").read_text(encoding="utf-8"))[version]
    meta = json.loads((NEWS / cc / "meta.info").read_text(encoding="utf-8"))[fname]
    body = gt["body"]
    first_para = body["sections"][0]["paragraphs"][0]
    lead = body["summary"][0] if body.get("summary") else first_para
    return {
        "title": gt["title"],
        "date": datetime.fromisoformat(gt["publishing_date"]),
        "lead": lead,
        "url": meta["url"],
    }


# --- f1metrics feed: trimmed, links rewritten, one offline page per item ---------------------

# (index of the item in the original feed, slug, number of leading text blocks kept)
F1_ITEMS = [
    (4, "a-new-f1metrics-model", 6),
    (7, "2018-f1metrics-end-of-season-report", 4),
    (9, "historical-hypotheticals-part-i", 8),
]
TEXT_BLOCK = re.compile(r"^<(p|h1|h2|h3)\b[^>]*>.*</\1>$", re.S)
HOT = re.compile(r"Azerbaijan|Baku")


def plain(block: str) -> str:
    return re.sub(r"<[^>]+>|&nbsp;", "", block).strip()


def trim_content(content: str, keep_first: int) -> str:
    lines = content.split("\n")
    kept: list[int] = []
    n_text = 0
    last_heading: int | None = None
    for i, ln in enumerate(lines):
        is_text = bool(TEXT_BLOCK.match(ln)) and bool(plain(ln))
        if is_text and re.match(r"^<h[123]", ln):
            last_heading = i
        if is_text and n_text < keep_first:
            kept.append(i)
            n_text += 1
            continue
        if HOT.search(ln) and (is_text or ln.startswith('<div data-shortcode="caption"')):
            if last_heading is not None and last_heading not in kept:
                kept.append(last_heading)
            kept.append(i)
    return "\n".join(lines[i] for i in sorted(set(kept)))


def build_f1() -> tuple[str, list[tuple[str, str]]]:
    raw = F1_FEED.read_text(encoding="utf-8")
    head = raw[: raw.index("<item>")]
    items = re.findall(r"<item>.*?</item>", raw, re.S)
    out_items, pages = [], []
    for idx, slug, keep in F1_ITEMS:
        it = items[idx]
        m = re.search(r"<content:encoded><!\[CDATA\[(.*?)\]\]></content:encoded>", it, re.S)
        content = trim_content(m.group(1), keep)
        it = (
            it[: m.start()]
            + f"<content:encoded><![CDATA[{content}]]></content:encoded>"
            + it[m.end() :]
        )
        it = re.sub(
            r"<link>[^<]*</link>", f"<link>{{BASE}}/pages/f1metrics-{slug}.html</link>", it, count=1
        )
        # keep only the first <media:content> (the post's own image)
        medias = list(
            re.finditer(r"\s*<media:content\b[^>]*?(?:/>|>.*?</media:content>)", it, re.S)
        )
        for mm in reversed(medias[1:]):
            it = it[: mm.start()] + it[mm.end() :]
        out_items.append("\t" + it)
        title = html.unescape(re.search(r"<title>(.*?)</title>", it, re.S).group(1))
        pub = email.utils.parsedate_to_datetime(re.search(r"<pubDate>(.*?)</pubDate>", it).group(1))
        pages.append((f"f1metrics-{slug}.html", f1_page(title, pub, content)))
    return head + "\n".join(out_items) + "\n\t</channel>\n</rss>\n", pages


def f1_page(title: str, pub: datetime, content: str) -> str:
    t = html.escape(title)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{t} | f1metrics</title>
  <meta property="og:type" content="article">
  <meta property="og:site_name" content="f1metrics">
  <meta property="og:title" content="{t}">
  <meta property="article:published_time" content="{pub.isoformat()}">
  <meta name="author" content="f1metrics">
</head>
<body>
  <header><a href="https://f1metrics.wordpress.com">f1metrics</a>
    <p>Mathematical and statistical insights into Formula 1</p></header>
  <main>
    <article>
      <h1>{t}</h1>
      <p class="byline"><time datetime="{pub.isoformat()}">{pub.strftime("%B %-d, %Y")}</time>
        &middot; <span class="author">f1metrics</span></p>
      <div class="entry-content">
{content}
      </div>
    </article>
  </main>
  <footer><p>Text: f1metrics blog, copied from its public RSS feed for an offline demo.</p></footer>
</body>
</html>
"""


# --- demo feeds ---------------------------------------------------------------------------------


def rss_item(title: str, link: str, guid: str, permalink: bool, date: datetime, desc: str) -> str:
    return f"""    <item>
      <title>{xml_escape(title)}</title>
      <link>{xml_escape(link)}</link>
      <guid isPermaLink="{"true" if permalink else "false"}">{xml_escape(guid)}</guid>
      <pubDate>{email.utils.format_datetime(date.astimezone(UTC), usegmt=True)}</pubDate>
      <description>{xml_escape(desc)}</description>
    </item>"""


def atom_entry(title: str, link: str, eid: str, date: datetime, summary: str) -> str:
    iso = date.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return f"""  <entry>
    <title>{xml_escape(title)}</title>
    <link rel="alternate" type="text/html" href="{xml_escape(link)}"/>
    <id>{xml_escape(eid)}</id>
    <published>{iso}</published>
    <updated>{iso}</updated>
    <summary>{xml_escape(summary)}</summary>
  </entry>"""


def main() -> None:
    (OUT / "pages").mkdir(parents=True, exist_ok=True)
    (OUT / "feeds").mkdir(parents=True, exist_ok=True)

    (OUT / "pages" / f"{CAUCASUS_SLUG}.html").write_text(build_caucasus_page(), encoding="utf-8")
    cauc = {
        "title": CAUCASUS_TITLE,
        "date": CAUCASUS_DATE,
        "lead": first_sentence(caucasus_lines()[0]),
        "link": f"{{BASE}}/pages/{CAUCASUS_SLUG}.html",
    }

    metas = {}
    for cc, fname, pub, version, name in NEWS_PAGES:
        shutil.copyfile(NEWS / cc / fname, OUT / "pages" / f"{name}.html.gz")
        metas[name] = news_page_meta(cc, fname, pub, version)

    feed, pages = build_f1()
    (OUT / "feeds" / "f1metrics.xml").write_text(feed, encoding="utf-8")
    for fname, text in pages:
        (OUT / "pages" / fname).write_text(text, encoding="utf-8")

    # world.xml: RSS 2.0. The caucasus item's guid is its link; the others carry the
    # publisher's original URL as a non-permalink guid (provenance).
    world_names = [
        "euronews-2024-04-30",
        "apnews-2023-04-28",
        "guardian-2024-02-24",
        "timeslive-2025-05-22",
        "cbcnews-2024-08-08",
    ]
    items = [rss_item(cauc["title"], cauc["link"], cauc["link"], True, cauc["date"], cauc["lead"])]
    for n in world_names:
        m = metas[n]
        items.append(
            rss_item(
                m["title"], f"{{BASE}}/pages/{n}.html.gz", m["url"], False, m["date"], m["lead"]
            )
        )
    newest = max([cauc["date"]] + [metas[n]["date"] for n in world_names])
    world = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
  <channel>
    <title>Demo World Desk</title>
    <link>{{BASE}}/</link>
    <atom:link href="{{BASE}}/feeds/world.xml" rel="self" type="application/rss+xml"/>
    <description>Offline demo feed for newsmon: real news pages served from monitor/demo/data/pages.</description>
    <language>en</language>
    <lastBuildDate>{email.utils.format_datetime(newest.astimezone(UTC), usegmt=True)}</lastBuildDate>
{chr(10).join(items)}
  </channel>
</rss>
"""  # noqa: E501 - the feed as served
    (OUT / "feeds" / "world.xml").write_text(world, encoding="utf-8")

    # regional.xml: Atom. Same caucasus link as world.xml but a different entry id, so that
    # dedup has to work on the article URL, not on the feed's id.
    g = metas["globalnews-2026-05-24"]
    entries = [
        atom_entry(
            cauc["title"],
            cauc["link"],
            f"tag:regional-wire.demo,2025:{CAUCASUS_SLUG}",
            cauc["date"],
            cauc["lead"],
        ),
        atom_entry(
            g["title"], "{BASE}/pages/globalnews-2026-05-24.html.gz", g["url"], g["date"], g["lead"]
        ),
    ]
    newest = max(cauc["date"], g["date"]).astimezone(UTC).isoformat().replace("+00:00", "Z")
    regional = f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>Demo Regional Wire</title>
  <subtitle>Offline demo feed for newsmon (Atom).</subtitle>
  <id>tag:regional-wire.demo,2025:feed</id>
  <link rel="self" type="application/atom+xml" href="{{BASE}}/feeds/regional.xml"/>
  <link rel="alternate" type="text/html" href="{{BASE}}/"/>
  <updated>{newest}</updated>
  <author><name>Demo Regional Wire</name></author>
{chr(10).join(entries)}
</feed>
"""
    (OUT / "feeds" / "regional.xml").write_text(regional, encoding="utf-8")


if __name__ == "__main__":
    main()
