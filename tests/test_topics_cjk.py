"""Chinese and Japanese, written without spaces: a topic's terms in them match, character
sequence against the unsegmented text, with the committed Caucasus topic given the names
an analyst would add (zh:, ja:) - and its rule still decides (a marathon is no visit)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.topics.language import TopicConfig
from monitor.topics.match import Classifier
from monitor.topics.text import cut_unspaced, pipeline, tokenize, unspaced_pieces

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "caucasus-realignment"

NAMES = {
    "azerbaijan": {
        "zh": ["阿塞拜疆", "巴库", "阿利耶夫"],
        "ja": ["アゼルバイジャン", "バクー", "アリエフ"],
    },
    "iran": {
        "zh": ["伊朗", "德黑兰", "佩泽希齐扬"],
        "ja": ["イラン", "テヘラン", "ペゼシュキアン"],
    },
    "relation": {
        "zh": ["国事访问", "访问", "会谈", "协议", "合作", "走廊"],
        "ja": ["訪問", "会談", "協定", "協力", "回廊"],
    },
}


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    topic = next(t for t in load_config(ROOT / "config").topics if t.id == TOPIC)
    data = topic.model_dump()
    for group, langs in NAMES.items():
        data["groups"][group].update(langs)
    return Classifier([TopicConfig.model_validate(data)], models={})


def _decide(clf: Classifier, title: str, text: str, lang: str) -> tuple[bool, dict[str, list[str]]]:
    (r,) = clf.classify(title, text, lang)
    groups = r.evidence["groups"]
    return r.matched, {g: sorted(i["terms"]) for g, i in groups.items() if i.get("count")}


def test_a_chinese_headline_and_lede_is_a_hit(classifier: Classifier) -> None:
    # as a news agency's wire reads: no space anywhere between the words
    title = "伊朗总统佩泽希齐扬抵达巴库进行国事访问"
    lede = (
        "新华社巴库4月28日电 伊朗总统佩泽希齐扬28日抵达阿塞拜疆首都巴库，开始对阿塞拜疆进行"
        "为期两天的国事访问。阿塞拜疆总统阿利耶夫在机场迎接。"
    )
    hit, groups = _decide(classifier, title, lede, "zh")
    assert hit
    assert groups["iran"] == sorted(["伊朗", "佩泽希齐扬"])
    assert groups["azerbaijan"] == sorted(["巴库", "阿塞拜疆", "阿利耶夫"])
    assert groups["relation"] == ["国事访问"]  # the longest term, not also 访问 inside it
    assert _decide(classifier, title, "", "zh")[0]  # the headline alone


def test_a_chinese_near_miss_stays_out(classifier: Classifier) -> None:
    # Baku and Iran, no relation: the rule fails as it does in English
    hit, groups = _decide(
        classifier,
        "巴库马拉松吸引创纪录人数",
        "来自伊朗和土耳其的选手周日参加了巴库马拉松比赛。",
        "zh",
    )
    assert not hit and groups == {"azerbaijan": ["巴库"], "iran": ["伊朗"]}


def test_a_japanese_headline_is_a_hit(classifier: Classifier) -> None:
    title = "イランのペゼシュキアン大統領がバクー訪問　アリエフ大統領と会談"
    lede = (
        "イランのペゼシュキアン大統領は28日、アゼルバイジャンの首都バクーを訪れ、"
        "アリエフ大統領と会談した。"
    )
    hit, groups = _decide(classifier, title, lede, "ja")
    assert hit and groups["relation"] == sorted(["会談", "訪問"])
    assert groups["iran"] == sorted(["イラン", "ペゼシュキアン"])


def test_latin_words_in_chinese_text_stay_whole(classifier: Classifier) -> None:
    # spaCy's blank zh cut "Baku" into B a k u; English terms must match there too
    tokens = classifier.analyse(
        "阿塞拜疆SOCAR向以色列供应石油", "Baku, G20峰会。向(SOCAR)供应", "zh"
    )
    assert {"socar", "baku", "g20", "阿", "峰", "。", "("} <= set(tokens.norms)
    assert "(socar)" not in tokens.norms  # a run between characters is tokenised as words
    assert unspaced_pieces("G20峰会") == ["G20", "峰", "会"]
    assert unspaced_pieces("Baku") == ["Baku"]


def test_text_without_such_characters_is_left_as_it_was() -> None:
    nlp = pipeline("en")
    text = "Pezeshkian visits Baku. Iranian President arrived in Baku for talks with Aliyev."
    arr = tokenize(nlp, text)
    assert cut_unspaced(nlp, text, arr) is arr  # no copy, no work
