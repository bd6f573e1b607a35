"""course_utils.pii: generated PII with exact spans, the course's rules, Presidio offline."""

import logging

import pytest

from course_utils import pii


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_generated_values_are_valid_and_located(lang):
    texts = pii.pii_texts(300, seed=3, lang=lang)
    assert texts == pii.pii_texts(300, seed=3, lang=lang) and texts != pii.pii_texts(300, seed=4, lang=lang)
    kinds = {kind for t in texts for _, _, kind in t.spans}
    assert kinds == set(pii.KINDS) and any(not t.spans for t in texts)
    for t in texts:
        for start, end, kind in t.spans:
            value = t.text[start:end]
            assert value and value == value.strip()
            if kind == "CARD":
                assert pii.luhn_valid(value) and len(value.replace(" ", "")) == 16
            if kind == "IBAN":
                assert pii.iban_valid(value)


def test_checksums_reject_a_changed_digit():
    assert pii.luhn_valid("4111 1111 1111 1111") and not pii.luhn_valid("4111 1111 1111 1112")
    assert pii.iban_valid("FR76 3000 6000 0112 3456 7890 189") and not pii.iban_valid(
        "FR76 3000 6000 0112 3456 7890 188"
    )


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_rules_find_every_structured_value_and_no_name(lang):
    for t in pii.pii_texts(200, seed=5, lang=lang):
        assert pii.find_pii(t.text) == sorted(s for s in t.spans if s[2] in pii.RULE_KINDS), t.text
        redacted = pii.redact(t.text)
        assert not any(value in redacted for value in t.values(pii.RULE_KINDS)), redacted
        assert all(value in redacted for value in t.values(["PERSON"]))  # rules do not know names


def test_rules_skip_numbers_that_fail_their_checksum():
    text = "commande 4111 1111 1111 1112, référence FR76 3000 6000 0112 3456 7890 188"
    assert pii.find_pii(text) == [] and pii.redact(text) == text


def test_unknown_language_is_a_clear_error():
    with pytest.raises(ValueError, match="langue inconnue"):
        pii.pii_texts(3, lang="de")


@pytest.mark.slow
def test_presidio_runs_offline_and_finds_names(caplog):
    with caplog.at_level(logging.WARNING):
        analyzer = pii.presidio_analyzer()
        text = "Bonjour, je suis Marie Dupont, écrivez à marie.dupont@exemple.fr."
        found = {(r.entity_type, text[r.start : r.end]) for r in analyzer.analyze(text=text, language="fr")}
    assert ("EMAIL_ADDRESS", "marie.dupont@exemple.fr") in found and ("PERSON", "Marie Dupont") in found
    assert not [r for r in caplog.records if r.name.startswith("tldextract")], "tldextract tried the network"
