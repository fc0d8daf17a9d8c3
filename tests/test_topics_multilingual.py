"""The committed Caucasus topic on real multilingual headlines and ledes (dev part).

The figures and the goals: ``benchmarks/topics_multilingual.py``; the labelled set and
its labelling rule: ``benchmarks/data/topics/README.md``. The held-out test part is
never asserted here (it is not tuned on); the dev part holds a floor so that a change
to the topic, the gazetteer or the score that loses recall or precision fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_yaml_model
from monitor.topics.labelled import evaluate_topic, load_labelled
from monitor.topics.language import TopicConfig, TopicsFile
from monitor.topics.match import Classifier

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data" / "topics" / "caucasus-realignment.jsonl"
TOPICS = ROOT / "config" / "topics.yaml"

pytestmark = pytest.mark.skipif(not DATA.is_file(), reason=f"labelled set absent: {DATA}")

# Floors on the dev part: a little below what the committed topic reaches (recall 0.95,
# precision 0.98 on 371 relevant texts), far above what it reached before scores were
# calibrated for short texts and the gazetteer's names were added (recall 0.16), above
# what it reached on the second search round before it knew Georgia, the US and the CSTO
# (recall 0.83), and above what it reached on the fourth round's 124 fresh texts before
# it knew other states, disputes and arms deals, Spanish and Portuguese, and the headline
# and its lede as one unit (recall 0.72 on those, 0.86 on the whole dev part).
DEV_RECALL = 0.93
DEV_PRECISION = 0.97
DEV_LANGUAGE_RECALL = 0.70  # every language with at least five relevant texts


def _topic() -> TopicConfig:
    topics: list[TopicConfig] = load_yaml_model(TOPICS, TopicsFile).topics
    return next(t for t in topics if t.id == "caucasus-realignment")


def _hit(title: str, text: str, language: str = "en") -> bool:
    return Classifier([_topic()], models={}).classify(title, text, language)[0].matched


def test_caucasus_topic_on_dev_headlines() -> None:
    topic = _topic()
    items = [it for it in load_labelled(DATA) if it.split == "dev"]
    assert sum(it.relevant for it in items) >= 350
    dev = evaluate_topic(topic, items)["dev"]
    missed = [f"{it.language} {sc:.3f} {it.title[:60]}" for it, sc in dev.misses]
    assert dev.overall.recall >= DEV_RECALL, "\n".join(missed)
    assert dev.overall.precision >= DEV_PRECISION, [it.title for it, _ in dev.false_hits]
    weak = {
        lang: round(c.recall, 2)
        for lang, c in dev.by_language.items()
        if c.relevant >= 5 and c.recall < DEV_LANGUAGE_RECALL
    }
    assert not weak, weak


def test_georgia_and_the_us_are_parties_but_not_the_us_state() -> None:
    # Georgia is a South Caucasus state, the United States a partner of the region
    assert _hit(
        "US suspends strategic partnership with Georgia",
        "The United States has suspended its strategic partnership with Georgia.",
    )
    assert _hit(
        "Kobakhidze in Baku",
        "Georgia's prime minister met Azerbaijan's president for talks on the railway.",
    )
    # tourists are people, not states; Georgia the US state, next to Atlanta: no hit
    assert not _hit(
        "Russian tourists in Georgia",
        "A record number of Russian tourists crossed the border into Georgia this summer.",
    )
    assert not _hit(
        "Trump meets Georgia Republicans in Atlanta",
        "Donald Trump met Georgia Republicans in Atlanta for talks on the state's election.",
    )


def test_irans_azerbaijan_provinces_are_not_the_republic() -> None:
    assert _hit(
        "Iran's president visits Azerbaijan",
        "Iran's president arrived in Baku for talks with Azerbaijan's president.",
    )
    assert not _hit(
        "Governor of Iran's West Azerbaijan visits Khoy",
        "The governor of West Azerbaijan, Iran, visited Khoy after the earthquake.",
    )
    assert not _hit(
        "زلزله در خوی",
        "زلزله شهرستان خوی در استان آذربایجان غربی ایران را لرزاند و اتفاق افتاد.",
        "fa",
    )


def test_a_headline_and_its_lede_are_one_sentence_in_a_short_text() -> None:
    # the headline names the states, the lede the relation: a feed summary is one report
    title, lede = "Pezeshkian in Baku", "The Iranian president arrived for talks on Monday."
    assert _hit(title, lede)
    # in a full article the sentence rule still wants them in one sentence
    filler = " ".join(f"The weather in the city stayed mild on day {i}." for i in range(20))
    assert not _hit(title, f"{lede} {filler}")
    # a headline cut by "$1.6b." still reads as one
    assert _hit("Israel officials confirm $1.6b. Azeri defense deal", "Officials spoke on Sunday.")


def test_other_states_disputes_and_arms_deals_are_dealings() -> None:
    assert _hit(
        "China, Azerbaijan elevate ties",
        "Xi Jinping and Ilham Aliyev announced a comprehensive strategic partnership.",
    )
    assert _hit(
        "Armenia buys Indian artillery",
        "Armenia signed a contract for howitzers with India's defence ministry.",
    )
    assert _hit(
        "Baku summons Russian envoy",
        "Azerbaijan summoned Russia's charge d'affaires over the deaths in Yekaterinburg.",
    )
    assert _hit(
        "Putin apologises to Aliyev",
        "The Kremlin said Russian air defence was active when the Azerbaijani plane was hit.",
    )
    assert _hit(
        "Armenia y Azerbaiyán firman un acuerdo de paz en la Casa Blanca",
        "Trump recibió a Aliyev y Pashinián.",
        "es",
    )


def test_a_multilateral_summit_elsewhere_is_not_a_dealing() -> None:
    # "Cooperation" and "Summit" belong to the organisation's name
    assert not _hit(
        "Aliyev attends the Summit of the Economic Cooperation Organization",
        "Azerbaijan's president joined the leaders of Iran and Turkey in Ashgabat for the "
        "Summit of the Economic Cooperation Organization.",
    )
    # FC Qarabag is a football club: the Champions League cancels the place name
    assert not _hit(
        '"Qarabağ" Çempionlar Liqasında Bakıda qəbul edib',
        "Ağdam təmsilçisi Nyukasl komandasını Bakıda qəbul edib.",
        "az",
    )
