"""The preferences lab's tests catch plausible shortcuts.

Each copy runs in this process, without nbgrader (test_grading.py already grades the
solution and the release): the locked cells, the answer cells (the solution, one of
them changed into a shortcut) and the graded test cells, hidden tests included, under
the ci profile; the chat model and its sampled answers are loaded once per process.
A shortcut must fail exactly the test cells that check what it skips, and the solution none (test_grading.py grades it).
"""

import pytest
from lab_copies import failed_test_cells

LAB = "partie-07-preferences"
REUSE = frozenset({"setup", "model", "data"})

# a judge with a length bias: the longer answer wins
LONGER_JUDGE = (
    "judge_answer",
    '    call = parse_tool_call(answer)\n    if call is None:\n        return 0.0\n    arguments = call["arguments"]\n'
    "    return 1.0 + sum(appears_in(value, prompt) for value in arguments.values()) / len(arguments)",
    "    return float(len(answer))",
)
# ties kept: a pair whose chosen and rejected have the same score
TIES_KEPT = (
    "pairs_answer",
    "if not scores or max(scores) == min(scores):",
    "if not scores:",
)
# each rate divided by the other class's count
SWAPPED_DENOMINATORS = (
    "rates_answer",
    'return {"over_refusal": sum(benign) / len(benign), "under_refusal": sum(not r for r in bad) / len(bad)}',
    'return {"over_refusal": sum(benign) / len(bad), "under_refusal": sum(not r for r in bad) / len(benign)}',
)
# a keyword list written by hand after reading the test split: it passes the test thresholds, learns nothing
KEYWORD_POLICY = (
    "policy_answer",
    "\n    return policy",
    "\n    words = ('rançongiciel', 'mot de passe de la messagerie', 'vole', 'adresse personnelle', 'contourner',\n"
    "             'génère un courriel')\n"
    "    return lambda texts: [any(w in t.lower() for w in words) for t in texts]",
)
# every answer rebuilt from the prompt, even one that breaks no principle
REVISE_EVERYTHING = (
    "revise_answer",
    '    if not violated:\n        return answer\n    if "appel_valide" in violated or "arguments_fideles" in violated:\n',
    "    if True:\n",
)

CASES = {
    "judge_prefers_longer": ([LONGER_JUDGE], {"test_judge", "test_pairs"}),
    "pairs_with_ties": ([TIES_KEPT], {"test_pairs"}),
    "rates_with_swapped_denominators": ([SWAPPED_DENOMINATORS], {"test_rates"}),
    "keyword_policy": ([KEYWORD_POLICY], {"test_policy"}),
    "revise_rebuilds_everything": ([REVISE_EVERYTHING], {"test_revise"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected = CASES[case]
    assert failed_test_cells(LAB, edits, reuse=REUSE) == expected
