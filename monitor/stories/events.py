"""What happened, in any language: the words news uses for the kinds of event it reports
(a visit, a phone call, a summit, talks, a signing, a crash, an attack...), each kind one
key (``W:visit``) whatever the language.

Names alone cannot tell a phone call from the visit it prepares, and a Russian
"телефонный разговор" shares no word with an English "phone call": these keys let the
kind of event cross languages as names do. They are evidence, not names: they add to
the key mass two articles share but never count as a shared name (a story across
languages still needs its shared names). A trailing ``*`` is a stem (inflected forms,
up to four letters more); words are folded as articles' words are (case, accents).
"""

from __future__ import annotations

from monitor.stories.translit import fold

# kind -> language -> words. General news vocabulary, not any one set's: the event kinds
# wire services tag (visits, calls, meetings, summits, agreements, elections, attacks,
# disasters, deaths), in the languages the CLDR tables load.
EVENT_WORDS: dict[str, dict[str, list[str]]] = {
    "visit": {
        "en": ["visit*", "arrive*", "arrival*"],
        "ru": ["визит*", "посети*", "посещени*", "прибыл*", "прилет*", "прилёт*"],
        "uk": ["візит*", "відвіда*", "прибув*"],
        "az": ["səfər*", "ziyarət*"],
        "tr": ["ziyaret*"],
        "fa": ["سفر", "بازدید"],
        "ar": ["زيارة*", "يزور", "وصل"],
        "he": ["ביקור", "ביקר", "יבקר"],
        "hy": ["այց*", "այցել*"],
        "ka": ["ვიზიტ*"],
        "de": ["Besuch*", "besucht*", "eingetroffen"],
        "fr": ["visite*", "arrivé*"],
        "es": ["visita*", "llegó"],
        "it": ["visita*", "arrivato"],
    },
    "phone": {
        "en": ["phone*", "telephone*"],
        "ru": ["телефон*"],
        "uk": ["телефон*"],
        "az": ["telefon*"],
        "tr": ["telefon*"],
        "fa": ["تلفن*", "تلفنی"],
        "ar": ["هاتف*", "هاتفي*"],
        "he": ["טלפון*", "טלפונית"],
        "hy": ["հեռախոս*"],
        "ka": ["ტელეფონ*"],
        "de": ["Telefon*", "telefoniert*"],
        "fr": ["téléphon*"],
        "es": ["telefón*", "telefonic*"],
        "it": ["telefon*"],
    },
    "summit": {
        "en": ["summit*"],
        "ru": ["саммит*"],
        "uk": ["саміт*"],
        "az": ["sammit*", "zirvə*"],
        "tr": ["zirve*"],
        "fa": ["اجلاس"],
        "ar": ["قمة"],
        "he": ["פסגה", "פסגת"],
        "hy": ["գագաթնաժողով*"],
        "ka": ["სამიტ*"],
        "de": ["Gipfel*"],
        "fr": ["sommet*"],
        "es": ["cumbre*"],
        "it": ["vertice*"],
    },
    "talks": {
        "en": ["talks", "negotiat*", "meeting*"],
        "ru": ["переговор*", "встреч*"],
        "uk": ["переговор*", "зустріч*"],
        "az": ["danışıq*", "görüş*"],
        "tr": ["müzakere*", "görüş*"],
        "fa": ["مذاکره*", "مذاکرات", "دیدار"],
        "ar": ["مفاوضات", "محادثات", "لقاء"],
        "he": ["שיחות", "פגישה", "פגישת", "נפגש*"],
        "hy": ["բանակցություն*", "հանդիպում*"],
        "ka": ["შეხვედრ*", "მოლაპარაკებ*"],
        "de": ["Gespräch*", "Verhandlung*", "Treffen*"],
        "fr": ["négociation*", "pourparlers", "entretien*", "rencontre*"],
        "es": ["negociaci*", "reunión*", "conversaciones"],
        "it": ["negoziat*", "colloqui*", "incontro*"],
    },
    "sign": {
        "en": ["signed", "signing*", "agreement*", "memorandum*", "treaty*"],
        "ru": ["подпис*", "соглашени*", "договор*", "меморандум*"],
        "uk": ["підпис*", "угод*"],
        "az": ["imza*", "saziş*", "müqavilə*", "bəyannamə*"],
        "tr": ["imza*", "anlaşma*", "antlaşma*", "mutabakat*"],
        "fa": ["امضا*", "توافقنامه*", "قرارداد*", "تفاهمنامه*"],
        "ar": ["توقيع", "اتفاقية*", "اتفاق*"],
        "he": ["הסכם*", "חתמו", "חתימה", "חתימת"],
        "hy": ["ստորագր*", "համաձայնագ*"],
        "ka": ["ხელმოწერ*", "შეთანხმებ*"],
        "de": ["unterzeichn*", "Abkommen*", "Vereinbarung*"],
        "fr": ["signé*", "signature*", "accord*"],
        "es": ["firmó", "firma*", "acuerdo*"],
        "it": ["firmato", "firma*", "accordo*"],
    },
    "election": {
        "en": ["election*", "vote*", "voters", "referendum*"],
        "ru": ["выбор*", "голосовани*", "референдум*"],
        "uk": ["вибор*", "голосуванн*"],
        "az": ["seçki*", "referendum*"],
        "tr": ["seçim*", "referandum*"],
        "fa": ["انتخابات"],
        "ar": ["انتخابات"],
        "he": ["בחירות"],
        "hy": ["ընտրություն*"],
        "ka": ["არჩევნ*"],
        "de": ["Wahl", "Wahlen", "Abstimmung*"],
        "fr": ["élection*", "scrutin*"],
        "es": ["elecci*"],
        "it": ["elezion*"],
    },
    "attack": {
        "en": ["attack*", "strike", "strikes", "shelling"],
        "ru": ["атак*", "удар*", "обстрел*", "нападени*"],
        "uk": ["атак*", "удар*", "обстріл*"],
        "az": ["hücum*", "atəş*"],
        "tr": ["saldırı*"],
        "fa": ["حمله"],
        "ar": ["هجوم", "غارة*"],
        "he": ["תקיפה", "מתקפה", "פיגוע"],
        "hy": ["հարձակ*", "գնդակոծ*"],
        "ka": ["თავდასხმ*"],
        "de": ["Angriff*", "Anschlag*"],
        "fr": ["attaque*", "attentat*", "frappe*"],
        "es": ["ataque*", "atentado*"],
        "it": ["attacco*", "attentato*"],
    },
    "crash": {
        "en": ["crash*", "collision*"],
        "ru": ["крушени*", "катастроф*", "разбил*"],
        "uk": ["катастроф*", "аварі*"],
        "az": ["qəza*"],
        "tr": ["kaza*", "düştü"],
        "fa": ["سقوط"],
        "ar": ["تحطم", "سقوط"],
        "he": ["התרסק*", "התרסקות"],
        "hy": ["վթար*", "կործանում*"],
        "ka": ["ავარი*", "კატასტროფ*"],
        "de": ["Absturz*", "abgestürzt", "Unglück*"],
        "fr": ["écrasé*", "accident*"],
        "es": ["accidente*", "estrell*"],
        "it": ["incidente*", "precipitat*", "schianto"],
    },
    "quake": {
        "en": ["earthquake*", "quake*"],
        "ru": ["землетрясени*"],
        "uk": ["землетрус*"],
        "az": ["zəlzələ*"],
        "tr": ["deprem*"],
        "fa": ["زلزله"],
        "ar": ["زلزال"],
        "he": ["רעידת"],
        "hy": ["երկրաշարժ*"],
        "ka": ["მიწისძვრ*"],
        "de": ["Erdbeben*"],
        "fr": ["séisme*", "tremblement*"],
        "es": ["terremoto*", "sismo*"],
        "it": ["terremoto*", "sisma"],
    },
    "death": {
        "en": ["died", "dies", "death*", "killed", "dead"],
        "ru": ["погиб*", "умер*", "скончал*", "гибел*", "смерт*"],
        "uk": ["загин*", "помер*", "смерт*"],
        "az": ["həlak", "öldü", "vəfat*"],
        "tr": ["öldü", "hayatını", "vefat*"],
        "fa": ["کشته", "درگذشت"],
        "ar": ["مقتل", "وفاة", "قتلى"],
        "he": ["נהרג*", "נהרגו", "מותו"],
        "hy": ["մահաց*", "զոհվ*"],
        "ka": ["დაიღუპ*", "გარდაიცვალ*"],
        "de": ["gestorben", "getötet", "Tote", "Toten"],
        "fr": ["mort", "morts", "décès", "tué*"],
        "es": ["muerto*", "falleci*", "muerte"],
        "it": ["morto", "morti", "decesso", "ucciso*"],
    },
}


# The key of words that look like names (capitalised, or in a script without capitals)
# but are offices: "President", "Cumhurbaşkanı", "رئیس‌جمهور" are in every article about
# any head of state, and as rare "names" in a small batch they outweighed real ones.
NOT_A_NAME = "-"

TITLE_WORDS: dict[str, list[str]] = {
    "en": ["president*", "prime", "minister*", "premier", "chancellor", "leader*", "secretary"],
    "ru": ["президент*", "премьер*", "министр*", "лидер*", "глава", "председател*"],
    "uk": ["президент*", "прем'єр*", "міністр*", "лідер*"],
    "az": ["prezident*", "nazir*", "sədr*", "lider*"],
    "tr": ["cumhurbaşkan*", "başbakan*", "bakan*", "lider*", "başkan*"],
    "fa": ["رئیس‌جمهور", "رئیس‌جمهوری", "رئیس", "وزیر", "رهبر", "نخست‌وزیر"],
    "ar": ["رئيس", "الرئيس", "وزير", "زعيم"],
    "he": ["נשיא", "הנשיא", "ראש", "שר", "מנהיג"],
    "hy": ["նախագահ*", "վարչապետ*", "նախարար*"],
    "ka": ["პრეზიდენტ*", "პრემიერ*", "მინისტრ*"],
    "de": ["Präsident*", "Kanzler*", "Minister*", "Premierminister*"],
    "fr": ["président*", "ministre*", "premier"],
    "es": ["presidente*", "ministro*"],
    "it": ["presidente*", "ministro*"],
}


def event_words() -> list[tuple[str, str, bool]]:
    """(word, key, is a stem) for every word of every kind, folded; the offices under
    :data:`NOT_A_NAME`."""
    out = []
    for kind, by_lang in EVENT_WORDS.items():
        for words in by_lang.values():
            for w in words:
                out.append((fold(w.rstrip("*")), f"W:{kind}", w.endswith("*")))
    for words in TITLE_WORDS.values():
        for w in words:
            out.append((fold(w.rstrip("*")), NOT_A_NAME, w.endswith("*")))
    return out
