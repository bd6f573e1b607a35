"""The day-01 skills lab's tests catch plausible shortcuts.

Each copy runs in this process, without nbgrader (test_grading.py already grades the
solution and the release): the locked cells, the answer cells (the solution, one of
them changed into a shortcut) and the graded test cells, hidden tests included, under
the ci profile. A shortcut must fail exactly the test cells that check what it skips,
and the solution none (test_grading.py grades it).
"""

import pytest
from lab_copies import failed_test_cells

LAB = "day-01-competences"

# every component of the catalogue, whatever the needs ("just in case": a cost without a reason)
KITCHEN_SINK = (
    "architecture_answer",
    '    if needs["memoire"]:\n        wanted.append("historique")',
    "    wanted = list(CATALOG)",
)
# the model always behind an API, even when the data must stay on site
ALWAYS_API = ("architecture_answer", '    if needs["sur_site"]:\n        model =', "    if False:\n        model =")
# one replica whatever the peak traffic
ONE_REPLICA = (
    "chooser_answer",
    '    replicas = max(1, math.ceil(peak / option["throughput"]))',
    "    replicas = 1",
)
# the peak factor forgotten: the mean traffic sizes the replicas
NO_PEAK = (
    "chooser_answer",
    '    peak = scenario["requests_per_day"] * scenario["output_tokens"] / 86_400 * scenario["peak_factor"]',
    '    peak = scenario["requests_per_day"] * scenario["output_tokens"] / 86_400',
)
# the cheapest option, constraints ignored
CHEAPEST = (
    "chooser_answer",
    '        if o["quality"] >= scenario["min_quality"]\n'
    '        and request_latency(o, scenario) <= scenario["max_latency"]\n'
    '        and not (scenario["on_premise"] and o["hosting"] == "api")',
    "        if True",
)
# the on-site constraint forgotten
NO_ON_PREMISE = (
    "chooser_answer",
    '        and not (scenario["on_premise"] and o["hosting"] == "api")',
    "",
)
# no tie-break on quality: the first of equally cheap options wins
NO_TIE_BREAK = (
    "chooser_answer",
    'key=lambda o: (monthly_cost(o, scenario), -o["quality"], o["name"])',
    "key=lambda o: monthly_cost(o, scenario)",
)
# the course's own rules called instead of written
COURSE_RULES = (
    "pii_answer",
    "    found = []\n    for kind, pattern, valid in rules:",
    "    return pii.find_pii(text)\n    found = []\n    for kind, pattern, valid in rules:",
)
COURSE_REDACT = (
    "pii_answer",
    "    for start, end, kind in reversed(find_pii_spans(text)):",
    "    return pii.redact(text)\n    for start, end, kind in reversed(find_pii_spans(text)):",
)
# the course's regular expressions borrowed (own validators)
COURSE_PATTERNS = (
    "pii_answer",
    "    found = []\n    for kind, pattern, valid in rules:",
    '    rules = [(k, p.pattern, {"IBAN": iban, "CARD": luhn}.get(k)) for k, p, _ in pii._RULES]\n'
    "    found = []\n    for kind, pattern, valid in rules:",
)
# e-mails only: the trivial reference of the instructions
EMAIL_ONLY = (
    "pii_answer",
    "    found = []\n    for kind, pattern, valid in rules:",
    "    found = []\n    for kind, pattern, valid in rules[:1]:",
)
# no checksum: order numbers pass for cards
NO_LUHN = (
    "pii_answer",
    '        ("CARD", r"\\b\\d{4}(?:[ -]?\\d{4}){3}\\b", luhn),',
    '        ("CARD", r"\\b\\d{4}(?:[ -]?\\d{4}){3}\\b", None),',
)

CASES = {
    "kitchen_sink": ([KITCHEN_SINK], {"test_architecture"}),
    "always_api": ([ALWAYS_API], {"test_architecture"}),
    "one_replica": ([ONE_REPLICA], {"test_costs", "test_choose"}),
    "no_peak": ([NO_PEAK], {"test_costs", "test_choose"}),
    "cheapest": ([CHEAPEST], {"test_choose"}),
    "no_on_premise": ([NO_ON_PREMISE], {"test_choose"}),
    "no_tie_break": ([NO_TIE_BREAK], {"test_choose"}),
    "course_rules": ([COURSE_RULES], {"test_pii_detection", "test_pii_redaction"}),
    "course_redact": ([COURSE_REDACT], {"test_pii_redaction"}),
    "course_patterns": ([COURSE_PATTERNS], {"test_pii_detection", "test_pii_redaction"}),
    "email_only": ([EMAIL_ONLY], {"test_pii_detection", "test_pii_redaction"}),
    "no_luhn": ([NO_LUHN], {"test_pii_detection"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected = CASES[case]
    assert failed_test_cells(LAB, edits) == expected
