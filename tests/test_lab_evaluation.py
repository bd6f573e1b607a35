"""The evaluation-pipeline lab's (Projet 13) tests catch plausible shortcuts.

Each copy runs in this process, without nbgrader (test_grading.py already grades the
solution and the release): the locked cells, the answer cells (the solution, one of
them changed into a shortcut) and the graded test cells, hidden tests included, under
the ci profile. A shortcut must fail exactly the test cells that check what it skips,
and the solution none (test_grading.py grades it). The setup cell (the chat model) runs once. The cell that runs
real candidates (``test_models``) draws sampled answers whose noise may or may not
exceed a tolerance, so copies whose verdict there depends on the draw leave it out.
"""

import pytest
from lab_copies import failed_test_cells

LAB = "partie-10-evaluation"
DRAWN = frozenset({"test_models"})

# a gate that never fails
ALWAYS_PASSES = ("gate_answer", "    if failures:\n", "    if False:\n")
# any drop fails: no tolerance, no test
ANY_DROP = ("gate_answer", "regression = drop > allowed and p_value < alpha", "regression = drop > 0")
# a tolerance but no significance test: a big drop on 8 tasks fails
NO_TEST = ("gate_answer", "regression = drop > allowed and p_value < alpha", "regression = drop > allowed")
# significance only: a tiny but significant drop on 10 000 tasks fails
NO_TOLERANCE = (
    "gate_answer",
    "regression = drop > allowed and p_value < alpha",
    "regression = drop > 0 and p_value < alpha",
)
# a judge that gives full marks to the right tool, whatever its arguments
JUDGE_NAME_ONLY = ("judge_answer", "return 0.5 + 0.5 * same / len(arguments)", "return 1.0")
# a two-sided McNemar test
TWO_SIDED = (
    "pvalues_answer",
    "return min(1.0, sum(math.comb(n, k) for k in range(b, n + 1)) / 2**n)",
    "return min(1.0, 2 * sum(math.comb(n, k) for k in range(max(b, c), n + 1)) / 2**n)",
)
# one generation call per prompt (no batching)
ONE_BY_ONE = (
    "suite_answer",
    "answers = [str(a) for a in generate_fn(list(prompts))]",
    "answers = [str(generate_fn([p])[0]) for p in prompts]",
)

CASES = {
    "gate_always_passes": ([ALWAYS_PASSES], {"test_gate", "test_models"}, frozenset()),
    "gate_fails_on_any_drop": ([ANY_DROP], {"test_gate"}, DRAWN),
    "gate_without_significance": ([NO_TEST], {"test_gate"}, DRAWN),
    "gate_without_tolerance": ([NO_TOLERANCE], {"test_gate"}, DRAWN),
    "judge_ignores_arguments": ([JUDGE_NAME_ONLY], {"test_judge", "test_suite"}, DRAWN),
    "mcnemar_two_sided": ([TWO_SIDED], {"test_pvalues"}, DRAWN),
    "generation_one_prompt_at_a_time": ([ONE_BY_ONE], {"test_suite"}, DRAWN),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected, skip = CASES[case]
    assert failed_test_cells(LAB, edits, skip=skip, reuse={"setup"}) == expected
