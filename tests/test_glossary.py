"""The glossary of partie-12 defines the technical terms that the course's notebooks use.

Extraction rule (deterministic, stated once here and in partie-12/01-glossaire.ipynb):

- sources: every chapter and every lab notebook listed in ``course/syllabus.yml``; in them, the
  markdown cells and the comments of the code cells (Python ``tokenize``), but not the generated
  Colab cell, nor the bibliography (from a ``## Références`` heading to the next ``## `` heading);
- in markdown, fenced code, inline code, LaTeX math, link targets, URLs and HTML tags are removed
  first (identifiers and formulas are not vocabulary);
- a term is a token of 2 to 8 letters or digits, starting with a letter, not glued to a word, a
  dot, a slash or a hyphen before it (``TF-IDF`` gives ``TF``; ``x.KV`` gives nothing), with at
  least two capital letters: RAG, LoRA, KV, PSI, QLoRA, MMLU, GSM8K, vLLM, FLOPs...

A term is defined when it equals, case-insensitively, the ``sigle`` or one of the ``alias`` of an
entry, or is the plural of one (``GPUs``, ``LLMs``: the same token with a final ``s``).
"""

from __future__ import annotations

import io
import re
import tokenize
import unicodedata

import nbformat
import pytest
import yaml

from course_utils import syllabus

ROOT = syllabus.REPO_ROOT
GLOSSARY = ROOT / "partie-12" / "glossaire.yml"
MIN_ENTRIES = 300

STRIP = re.compile(r"```.*?```|`[^`\n]*`|\$\$.*?\$\$|\$[^$\n]*\$|\]\([^)]*\)|https?://\S+|<[^>\n]*>", re.S)
TOKEN = re.compile(r"(?<![\w./\\-])[A-Za-z][A-Za-z0-9]{1,7}(?![\w/\\])")
REFERENCES = re.compile(r"^## Références.*?(?=^## |\Z)", re.S | re.M)

# Tokens that follow the rule but are not technical vocabulary, by reason. Keep it short.
NOT_TERMS = {
    # venues and bodies cited in the prose next to a paper (the papers' terms are defined)
    **dict.fromkeys(
        "ACL ACM AISTATS CIKM COLM CVPR EACL ECIR EMNLP ICLR ICML IEEE JMLR MLSys NAACL NeurIPS OSDI PNAS "
        "SIGIR SOSP TACL TOIS TPAMI UIST AISec DeeLIO SC SMART".split(),
        "venue",
    ),
    # people's names
    "MacKay": "name",
    "McMahan": "name",
    # ordinary French words written in capitals for emphasis in comments
    **dict.fromkeys("AVANT FIN NOS SANS".split(), "emphasis"),
    # string constants, variable names and nbgrader markers quoted in comments
    **dict.fromkeys(
        "BEGIN END HIDDEN TESTS SOLUTION DEV DELTA HKV CARD EMAIL PHONE PERSON VECTORS PWNED INFO ERROR DONE "
        "ABC ACB BCA CAB".split(),
        "identifier",
    ),
    # currencies and numbering
    **dict.fromkeys("EUR USD GBP II".split(), "unit"),
    # ruff rule codes
    "BLE001": "lint",
    "UP013": "lint",
    # second half of a defined name (CC BY-SA, CC BY-NC-ND): the licence is defined under CC
    **dict.fromkeys("BY SA NC ND".split(), "fragment"),
    # demographic category in the prose on data bias
    "LGBTQ": "category",
}


def _comments(source: str) -> list[str]:
    try:
        return [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type == tokenize.COMMENT]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return re.findall(r"#.*$", source, re.M)


def texts_of(nb) -> list[str]:
    """The prose of a notebook that the rule reads: markdown and code comments."""
    out = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            out.append(STRIP.sub(" ", REFERENCES.sub(" ", cell.source)))
        elif cell.cell_type == "code" and syllabus.COLAB_TAG not in cell.metadata.get("tags", []):
            out.extend(_comments(cell.source))
    return out


def terms_in(texts: list[str]) -> set[str]:
    """Every token of the rule in ``texts``."""
    return {m.group(0) for text in texts for m in TOKEN.finditer(text) if sum(c.isupper() for c in m.group(0)) >= 2}


def course_notebooks() -> list[str]:
    syl = syllabus.load()
    labs = [
        p.relative_to(ROOT).as_posix()
        for lab in syllabus.labs(syl)
        for p in sorted((ROOT / "labs" / lab["id"]).glob("*.ipynb"))
    ]
    return syllabus.notebooks(syl) + labs


def load_glossary(path=GLOSSARY) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def defined_keys(entries: list[dict]) -> set[str]:
    keys = set()
    for entry in entries:
        keys |= {k.casefold() for k in [entry.get("sigle") or "", *entry.get("alias", [])] if k}
    return keys


def undefined(terms: set[str], entries: list[dict]) -> list[str]:
    keys = defined_keys(entries)
    missing = []
    for term in sorted(terms):
        key = term.casefold()
        if term in NOT_TERMS or key in keys or (key.endswith("s") and key[:-1] in keys):
            continue
        missing.append(term)
    return missing


def fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


@pytest.fixture(scope="module")
def entries() -> list[dict]:
    return load_glossary()


def test_glossary_is_large_and_well_formed(entries):
    assert len(entries) >= MIN_ENTRIES, f"{len(entries)} entries, at least {MIN_ENTRIES} expected"
    modules = {m["id"] for m in syllabus.modules(syllabus.load())}
    for entry in entries:
        for field in ("fr", "en", "definition"):
            assert isinstance(entry.get(field), str) and entry[field].strip(), f"{entry}: empty {field}"
        assert len(entry["definition"]) >= 15, f"{entry['fr']}: definition too short"
        assert entry.get("parties") and set(entry["parties"]) <= modules, (
            f"{entry['fr']}: parties {entry.get('parties')}"
        )
        assert set(entry) <= {"fr", "en", "sigle", "alias", "definition", "parties"}, entry


def test_glossary_has_no_duplicate(entries):
    seen = {}
    for entry in entries:
        name = (fold(entry["fr"]), fold(entry["en"]))
        assert name not in seen, f"duplicate entry {entry['fr']} / {entry['en']}"
        seen[name] = entry
    keys = [k.casefold() for e in entries for k in [e.get("sigle") or "", *e.get("alias", [])] if k]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    assert not dupes, f"acronyms or aliases defined twice: {dupes}"


def test_allow_list_stays_short():
    assert len(NOT_TERMS) <= 70


def test_every_term_of_the_notebooks_is_defined(entries):
    missing = {}
    for path in course_notebooks():
        for term in undefined(terms_in(texts_of(nbformat.read(ROOT / path, as_version=4))), entries):
            missing.setdefault(term, path)
    assert not missing, "terms used but not in partie-12/glossaire.yml: " + ", ".join(
        f"{t} ({p})" for t, p in sorted(missing.items())
    )


def test_the_check_catches_a_missing_term(entries):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "Le **RAG** et **QLoRA** réduisent le coût ; `XYZW` est du code, $KV$ une formule.\n\n"
            "## Références\n- Z. Auteur, « ZZTOP », NeurIPS 2024.\n\n## Suite\nLes GPUs et les LLMs."
        ),
        nbformat.v4.new_code_cell("x = 1  # le cache KV et la perte DPO, puis MYNEWTERM et AVANT\ny = 'PSIX'"),
    ]
    terms = terms_in(texts_of(nb))
    # code, formulas, bibliography and string literals are not read; comments and prose are
    assert terms == {"RAG", "QLoRA", "GPUs", "LLMs", "KV", "DPO", "AVANT"}
    assert undefined(terms, entries) == []  # MYNEWTERM has 9 characters: not a term by the rule
    nb.cells[1].source += "  # et maintenant SFTX"
    assert undefined(terms_in(texts_of(nb)), entries) == ["SFTX"]
    # removing an entry makes a term of the real notebooks undefined
    without_rag = [e for e in entries if (e.get("sigle") or "") != "RAG"]
    assert len(without_rag) == len(entries) - 1
    assert undefined({"RAG", "LoRA"}, without_rag) == ["RAG"]
    assert undefined({"RAG", "LoRA"}, entries) == []


def test_search_is_accent_insensitive():
    assert fold("Perplexité") == fold("PERPLEXITE") == "perplexite"
