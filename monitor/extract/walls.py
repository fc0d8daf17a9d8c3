"""Pages that stand in front of the article: a cookie or consent interstitial, "enable
JavaScript" or a bot check, a login wall, a paywall teaser (:func:`wall_kind`).

What extraction finds on such a page is the wall's own text (or a sentence of the
article and the wall), not the article: stored as the article's text, it would hide
what the feed summary says. Precision comes first - a real article flagged here loses
its text - so a page is a wall only when it is short and most of it is wall-speak:
lines that talk about cookies *and* consent, JavaScript being off, signing in to read,
subscribing to read. ``benchmarks/boilerplate.py`` measures it: false flags on the real
pages of the corpora, catches on walls (a dev set and a held-out set, never tuned on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Longer than this, a page is an article whatever its footer says (a wall with a teaser
# is a title, a paragraph or two, and the wall).
MAX_WALL_WORDS = 350
# The share of the text (in characters) in wall lines from which a short page is a wall.
MIN_WALL_SHARE = 0.4

_COOKIE = re.compile(r"\bcookies?\b|\bcookie-|\bkakor\b|файл\w* cookie", re.I)
_CONSENT_WORDS = re.compile(
    r"\b(accept|reject|decline|consent|agree|partners?|privacy|preferences|choices|"
    r"personal data|personali[sz]e|legitimate interest|"
    r"einwilligung|zustimm|akzeptier|datenschutz|"  # de
    r"consentement|accepter|partenaires|vie priv[ée]e|"  # fr
    r"consentimiento|aceptar|socios|privacidad|"  # es
    r"consenso|accett|rifiut|"  # it
    r"toestemming|akkoord|weiger|"  # nl
    r"aceitar|concorda|parceiros|privacidade|"  # pt
    r"zgod|akceptuj|prywatno|partner[oó]w|"  # pl
    r"godk[äa]nn|samtycker|integritet|"  # sv
    r"принять|соглаша|партн[её]р|персональн)",  # ru
    re.I,
)
# A consent page speaks to the reader about itself ("we use cookies", "your consent"); an
# article about cookie banners speaks about others.
_WE_YOU = re.compile(
    r"\b(we|our|us|you|your|wir|unsere?|ihre?|nous|nos|notre|vous|votre|vos|nosotros|"
    r"nuestros?|tu|tus|noi|nostri|tuo|wij|onze|uw|n[óo]s|nossos?|sua|seu|voc[êe]|"
    r"twoj\w*|twoich|nas|naszych|vi|v[åa]ra|du|din)\b|\b(мы|наши|ваш\w*|вы)\b",
    re.I,
)
# Consent-manager wording that does not name cookies.
_CONSENT_ONLY = re.compile(
    r"\bwe,? and our (\d+ )?(trusted )?partners,? (store|process|use|may)|"
    r"legitimate interest.*consent|withdraw (your )?consent|\bstrictly necessary cookies|"
    r"\bwe use cookies\b|\bmanag\w* (your |my )?(privacy|cookie) (settings|preferences|choices)|"
    r"click(ing)? .{1,30} to consent",
    re.I,
)
_JAVASCRIPT = re.compile(
    r"\b(enable|turn on|activate|switch on) javascript|javascript (is )?(disabled|blocked|"
    r"required|must be enabled|turned (on|off)|enabled)|(requires?|needs?) javascript|"
    r"turn javascript on|javascript and cookies|supports? javascript|"
    r"javascript aktivieren|activez javascript|activa javascript|habilita javascript|"
    r"verify (that )?you are (a )?human|automation tools to browse|not a robot|"
    r"checking (if the site connection is secure|your browser)|complete the security check|"
    r"unusual (activity|traffic) from your",
    re.I,
)
_LOGIN = re.compile(
    r"\b(sign|log) ?in (to|and) (continue|read|keep reading|view|access)|"
    r"(must|need to) (be )?(signed|logged) in|create an? (free )?account|"
    r"register (now )?(for free|to (read|continue|keep reading))|"
    r"\bregister (now )?with your e-?mail|already (registered|a member)\?|"
    r"forgot (your )?password|\b(sign in|continue) with (google|apple|facebook|your e-?mail)|"
    r"melden sie sich an|connectez-vous pour|inicia sesi[oó]n para",
    re.I,
)
_PAYWALL = re.compile(
    r"\bsubscribe (now |today )?to (continue|keep) reading|\b(become|already) a subscriber|"
    r"\b(exclusive|reserved|available) (to|for) (our )?(premium |paying )?(subscribers|members)|"
    r"\bfor (premium )?subscribers only|with an? (premium )?subscription|"
    r"\bunlimited (digital )?access|you have read your (last )?free article|"
    r"\b(\d+|no) free articles? (left|remaining)|\bstart your (free )?(trial|subscription)|"
    r"unlock this article|r[ée]serv[ée] aux abonn[ée]s|d[ée]j[àa] abonn[ée]|abonnez-vous|"
    r"vous reste \d+ ?% de l.article|exclusivo para (suscriptores|assinantes)|suscr[íi]bete|"
    r"ya eres suscriptor|exklusiv f[üu]r abonnenten|bereits (ein )?abonnent|weiterlesen mit|"
    r"riservato agli abbonati|abbonati per|gi[àa] abbonato|\bcancel any ?time|"
    r"(monatlich|jederzeit) k[üu]ndbar",
    re.I,
)

KINDS = {
    "consent": "a cookie or consent page",
    "javascript": 'an "enable JavaScript" or bot-check page',
    "login": "a login wall",
    "paywall": "a paywall",
}


@dataclass(frozen=True)
class Wall:
    kind: str  # consent / javascript / login / paywall
    share: float  # the share of the text in wall lines

    @property
    def description(self) -> str:
        return KINDS[self.kind]


def _line_kind(line: str) -> str | None:
    if (
        _COOKIE.search(line) and _CONSENT_WORDS.search(line) and _WE_YOU.search(line)
    ) or _CONSENT_ONLY.search(line):
        return "consent"
    if _JAVASCRIPT.search(line):
        return "javascript"
    if _PAYWALL.search(line):
        return "paywall"
    if _LOGIN.search(line):
        return "login"
    return None


def wall_kind(title: str, text: str) -> Wall | None:
    """The wall this page is, or None when it is (as far as can be told) the article.

    ``title`` and ``text`` are what extraction found. A page is a wall when it has at
    most :data:`MAX_WALL_WORDS` words and at least :data:`MIN_WALL_SHARE` of its text
    is in lines of wall-speak (the title counts as a line)."""
    if len(text.split()) > MAX_WALL_WORDS:
        return None
    title = title.strip()
    # the title once: extraction often repeats it as the text's first line
    lines = [title] + [ln.strip() for ln in text.splitlines() if ln.strip() not in ("", title)]
    lines = [ln for ln in lines if ln]
    total = sum(len(ln) for ln in lines)
    if not total:
        return None
    by_kind: dict[str, int] = {}
    for ln in lines:
        kind = _line_kind(ln)
        if kind is not None:
            by_kind[kind] = by_kind.get(kind, 0) + len(ln)
    if not by_kind:
        return None
    share = sum(by_kind.values()) / total
    if share < MIN_WALL_SHARE:
        return None
    # A paywall line names signing in too ("Already a subscriber? Log in"): the paywall
    # is the wall when both are there.
    kind = max(by_kind, key=lambda k: (by_kind[k], k == "paywall"))
    if "paywall" in by_kind and kind == "login":
        kind = "paywall"
    return Wall(kind, round(share, 3))
