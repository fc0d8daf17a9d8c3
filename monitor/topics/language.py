"""The topic rule language: what ``topics.yaml`` may say, as typed objects.

A topic is a set of named term groups (terms per language, weights, saturation), a
boolean rule over them (:data:`Rule`), exclusions, field weights, a threshold, seed
examples and how a trained model takes part. How an article is matched against it:
:mod:`monitor.topics.match`. This module depends on nothing of newsmon but errors, so
that the config (:mod:`monitor.config`) can validate topics files with it.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Term(Strict):
    """A term written out: ``{text: IRGC, case_sensitive: true}``.

    ``Azerbaijan*`` (a trailing star) matches any word starting so (Azerbaijani,
    Азербайджана with ``Азербайджан*``); ``plurals: false`` turns off the automatic
    English plural of the last word.
    """

    text: str = Field(min_length=1)
    case_sensitive: bool = False
    weight: float = Field(1.0, gt=0)
    plurals: bool = True


TermSpec = str | Term
_WORDISH = re.compile(r"[^\W_]")  # a letter or a digit, in any script


def term_problem(text: str) -> str | None:
    """Why a term cannot be matched sensibly, or None: a term needs a letter or digit in
    every word (``""``, ``"-"`` match nothing and broke runs); a prefix (``Azer*``) needs
    two before its star (``"*"`` matched every word)."""
    body = text.strip()
    star = body.endswith("*")
    if star:
        body = body[:-1].rstrip()
    if not body:
        return f"term {text!r} would match every word" if star else f"term {text!r} is empty"
    for word in re.split(r"[\s\-\u2010\u2011]+", body):
        if word and not _WORDISH.search(word):
            return f"term {text!r} has a word with no letter or digit ({word!r})"
    if not _WORDISH.search(body):
        return f"term {text!r} has no letter or digit"
    if star and len(_WORDISH.findall(re.split(r"\s+", body)[-1])) < 2:
        return f"term {text!r}: a prefix needs at least two letters before '*'"
    return None


def _check_terms(terms: list[TermSpec], where: str) -> list[TermSpec]:
    for i, t in enumerate(terms):
        problem = term_problem(t if isinstance(t, str) else t.text)
        if problem:
            raise ValueError(f"{problem} ({where}[{i}])")
    return terms


# spaCy has a tokenizer (``spacy.blank``) for these; a group may list terms per language.
LANGUAGES = frozenset(
    "af am ar az bg bn ca cs da de dsb el en es et eu fa fi fo fr ga grc gu he hi hr hsb hu "
    "hy id is it ja kn ko ky la lb lg lij lt lv mk ml mr ms nb ne nl nn pl pt ro ru sa si sk "
    "sl sq sr sv ta te th ti tl tn tr tt uk ur vi xx yo zh".split()
)
# Languages a group may list terms for although spaCy has no tokenizer for them: their
# articles are tokenised by the default pipeline (whitespace and punctuation).
TERM_LANGUAGES = LANGUAGES | frozenset({"ka"})


class Group(Strict):
    """Named terms. ``terms`` apply in every language; ``ru:``, ``fa:``, ... add terms
    written in that language (kept in ``languages``)."""

    terms: list[TermSpec] = []
    languages: dict[str, list[TermSpec]] = {}
    weight: float = Field(1.0, ge=0)
    saturation: float | None = Field(None, gt=0, description="overrides the topic's")
    description: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _language_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        langs = dict(data.get("languages") or {})
        for key in list(data):
            if key not in cls.model_fields and isinstance(key, str) and key in TERM_LANGUAGES:
                langs[key] = data.pop(key)
        if langs:
            data["languages"] = langs
        return data

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, v: dict[str, list[TermSpec]]) -> dict[str, list[TermSpec]]:
        for code in v:
            if code not in TERM_LANGUAGES:
                raise ValueError(f"unknown language code {code!r} (ISO 639-1, as spaCy uses)")
            _check_terms(v[code], code)
        return v

    @field_validator("terms")
    @classmethod
    def _usable_terms(cls, v: list[TermSpec]) -> list[TermSpec]:
        return _check_terms(v, "terms")

    @model_validator(mode="after")
    def _has_terms(self) -> Group:
        if not self.terms and not any(self.languages.values()):
            raise ValueError("a group needs terms (under terms: or a language code such as ru:)")
        return self

    def all_terms(self) -> list[tuple[str | None, TermSpec]]:
        """(language or None, term) for every term of the group."""
        out: list[tuple[str | None, TermSpec]] = [(None, t) for t in self.terms]
        for lang, terms in self.languages.items():
            out += [(lang, t) for t in terms]
        return out


class Exclusion(Strict):
    """Terms that cancel matches of other groups within ``window`` tokens."""

    terms: list[TermSpec] = Field(min_length=1)
    window: int = Field(6, ge=0)

    @field_validator("terms")
    @classmethod
    def _usable_terms(cls, v: list[TermSpec]) -> list[TermSpec]:
        return _check_terms(v, "terms")


class GroupRef(Strict):
    group: str
    min: int = Field(1, ge=1)


class AllOf(Strict):
    all: list[Rule] = Field(min_length=1)


class AnyOf(Strict):
    any: list[Rule] = Field(min_length=1)


class NoneOf(Strict):
    none: list[Rule] = Field(min_length=1)


class AtLeast(Strict):
    at_least: int = Field(ge=1)
    of: list[Rule] = Field(min_length=1)


class Sentence(Strict):
    """True when one sentence alone satisfies the inner rule."""

    sentence: Rule


class Near(Strict):
    """True when every listed group matches within ``within`` tokens of each other."""

    near: list[str] = Field(min_length=2)
    within: int = Field(10, ge=0)


_RULE_KEYS = {
    "group": "group",
    "all": "all",
    "any": "any",
    "none": "none",
    "at_least": "at_least",
    "of": "at_least",
    "sentence": "sentence",
    "near": "near",
    "within": "near",
}


def _rule_kind(v: Any) -> str | None:
    if isinstance(v, str):
        return "name"
    if isinstance(v, dict):
        for k in v:
            if k in _RULE_KEYS:
                return _RULE_KEYS[k]
        return None
    for cls, tag in (
        (GroupRef, "group"),
        (AllOf, "all"),
        (AnyOf, "any"),
        (NoneOf, "none"),
        (AtLeast, "at_least"),
        (Sentence, "sentence"),
        (Near, "near"),
    ):
        if isinstance(v, cls):
            return tag
    return None


# A rule is a group name, or one of the nodes above, told apart by its key.
Rule = Annotated[
    Annotated[str, Tag("name")]
    | Annotated[GroupRef, Tag("group")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NoneOf, Tag("none")]
    | Annotated[AtLeast, Tag("at_least")]
    | Annotated[Sentence, Tag("sentence")]
    | Annotated[Near, Tag("near")],
    Discriminator(
        _rule_kind,
        custom_error_type="rule",
        custom_error_message="a rule is a group name or a mapping with one of the "
        "keys group, all, any, none, at_least (with of), sentence, near (with within)",
    ),
]
for _m in (AllOf, AnyOf, NoneOf, AtLeast, Sentence):
    _m.model_rebuild()


class FieldWeights(Strict):
    title: float = Field(3.0, ge=0)
    lead: float = Field(2.0, ge=0)
    body: float = Field(1.0, ge=0)
    lead_chars: int = Field(400, ge=0)


class Seeds(Strict):
    """Known examples: paths (relative to the topics file) or URLs of articles."""

    hits: list[str] = []
    misses: list[str] = []


class ModelSettings(Strict):
    """How a trained model (``newsmon topics train``) takes part in decisions."""

    use: bool = Field(True, description="false: rules alone decide even if a model is active")
    threshold: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="P(relevant) at which a story is a hit; default: the "
        "model's own (set at training so that it flags as many stored articles as expected)",
    )


# Fields added after the first release: left out of the version hash while at their
# defaults, so that a definition that does not use them keeps its version.
_NEW_TOPIC_FIELDS = {
    "seeds": {"hits": [], "misses": []},
    "scoring": "mean",
    "model": {"use": True, "threshold": None},
}
_NEW_GROUP_FIELDS: dict[str, Any] = {"languages": {}, "saturation": None}
_NEW_TERM_FIELDS = {"plurals": True}


class TopicConfig(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    description: str = ""
    language: str = "en"
    groups: dict[str, Group] = Field(min_length=1)
    rule: Rule | None = None
    exclude: list[Exclusion] = []
    weights: FieldWeights = FieldWeights()
    saturation: float = Field(2.0, gt=0, description="count at which a group is ~63% saturated")
    threshold: float = Field(0.3, ge=0, le=1)
    scoring: Literal["mean", "rule"] = Field(
        "mean",
        description="mean: weighted mean over all groups; rule: follows the rule "
        "(any = best branch, all = weighted mean, none = a gate)",
    )
    seeds: Seeds = Seeds()
    model: ModelSettings = ModelSettings()

    @field_validator("rule")
    @classmethod
    def _rule_names_exist(cls, rule: Any, info: ValidationInfo) -> Any:
        # A field validator (not a model one) so the error's key is "topics[i].rule";
        # ``groups`` is declared first, so it is validated by now (absent if invalid).
        groups = info.data.get("groups")
        if rule is not None and groups is not None:
            for name in _rule_group_names(rule):
                if name not in groups:
                    known = ", ".join(sorted(groups))
                    raise ValueError(f"rule names unknown group {name!r} (groups: {known})")
        return rule

    @property
    def version(self) -> str:
        """A short hash of the definition: stored with every hit."""
        data = _drop_defaults(self.model_dump(mode="json"), _NEW_TOPIC_FIELDS)
        for g in data["groups"].values():
            _drop_defaults(g, _NEW_GROUP_FIELDS)
            for t in g["terms"]:
                if isinstance(t, dict):
                    _drop_defaults(t, _NEW_TERM_FIELDS)
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def _drop_defaults(data: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    for key, default in defaults.items():
        if key in data and data[key] == default:
            del data[key]
    return data


def _rule_group_names(rule: Any) -> list[str]:
    if isinstance(rule, str):
        return [rule]
    if isinstance(rule, GroupRef):
        return [rule.group]
    if isinstance(rule, (AllOf, AnyOf, NoneOf)):
        children = (
            rule.all
            if isinstance(rule, AllOf)
            else (rule.any if isinstance(rule, AnyOf) else rule.none)
        )
        return [n for c in children for n in _rule_group_names(c)]
    if isinstance(rule, AtLeast):
        return [n for c in rule.of for n in _rule_group_names(c)]
    if isinstance(rule, Sentence):
        return _rule_group_names(rule.sentence)
    if isinstance(rule, Near):
        return list(rule.near)
    return []


class TopicsFile(Strict):
    topics: list[TopicConfig] = []

    @model_validator(mode="after")
    def _unique(self) -> TopicsFile:
        ids = [t.id for t in self.topics]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"topic id used twice: {', '.join(sorted(dup))}")
        return self
