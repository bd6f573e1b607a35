"""The red-teaming lab's tests catch plausible shortcuts in the defences and the scoring.

Each copy runs in this process, without nbgrader (test_grading.py already grades the
solution and the release): the locked cells, the answer cells (the solution, one of
them changed into a shortcut) and the graded test cells, hidden tests included, under
the ci profile. A shortcut must fail exactly the test cells that check what it skips,
and the solution none (test_grading.py grades it). The setup cell runs in each copy: the gateway it defines calls the
answer cells through its own globals, so a namespace reused from another copy would mix them.
"""

import pytest
from lab_copies import failed_test_cells

LAB = "partie-10-red-teaming"
DETECTION = "    seen = normalize_text(text)\n    return any(re.search(pattern, seen) for pattern in patterns)"

# a fixed keyword list on the raw text: misses disguised attacks, blocks questions about passwords or systems
KEYWORDS = (
    "detect_answer",
    DETECTION,
    '    keywords = ("ignore", "system prompt", "prompt système", "mot de passe", "password", "révèle",'
    ' "instructions", "iban", "base64", "dan ")\n'
    "    return any(k in text.lower() for k in keywords)",
)
# the right patterns on the raw text (lower case only): no reading through the disguises
NO_NORMALIZATION = ("detect_answer", "    seen = normalize_text(text)", "    seen = text.lower()")
# block everything: no attack gets through, neither does any user
BLOCK_ALL = ("detect_answer", DETECTION, "    return True")
# a normalisation that forgets homoglyphs and base64
HALF_NORMALIZATION = (
    "normalize_answer",
    "    canonical = canonical.translate(ZERO_WIDTH).translate(HOMOGLYPHS)\n"
    "    canonical = B64_TOKEN.sub(decode_base64_token, canonical)",
    "    canonical = canonical.translate(ZERO_WIDTH)",
)
# documents delimited but not sanitised: indirect injections reach the target
NO_SANITISING = (
    "documents_answer",
    'doc = REMOVED if detect_injection(doc) else doc.replace("<<", "«").replace(">>", "»")',
    'doc = doc.replace("<<", "«").replace(">>", "»")',
)
# the canary looked for in the plain output only (reversed, spelled or base64 leaks pass)
PLAIN_CANARY = (
    "output_answer",
    "for view in output_views(text))",
    "for view in [text])",
)
# an attack counted as successful only if a secret appears verbatim
PLAIN_SCORING = (
    "scoring_answer",
    '    seen = [re.sub(r"[^a-z0-9]", "", normalize_text(view)) for view in output_views(output)]',
    "    seen = [output]",
)

CASES = {
    "keyword_list": ([KEYWORDS], {"test_detect", "test_documents", "test_gateway"}),
    "no_normalization": ([NO_NORMALIZATION], {"test_detect", "test_documents", "test_gateway"}),
    "block_all": ([BLOCK_ALL], {"test_detect", "test_documents", "test_gateway"}),
    "half_normalization": ([HALF_NORMALIZATION], {"test_normalize", "test_detect", "test_documents", "test_gateway"}),
    "no_sanitising": ([NO_SANITISING], {"test_documents", "test_gateway"}),
    "plain_canary": ([PLAIN_CANARY], {"test_output", "test_gateway"}),
    "plain_scoring": ([PLAIN_SCORING], {"test_scoring"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected = CASES[case]
    assert failed_test_cells(LAB, edits) == expected
