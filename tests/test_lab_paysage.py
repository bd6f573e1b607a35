"""The loss-landscape lab's tests catch plausible shortcuts.

Each copy runs in this process, without nbgrader (test_grading.py already grades the
solution and the release): the locked cells, the answer cells (the solution, one of
them replaced by a shortcut) and the graded test cells, hidden tests included, under
the ci profile; plots and demos are skipped. A shortcut must fail exactly the test
cells that check what it skips, and the solution none (test_grading.py grades it).
"""

import pytest
from lab_copies import failed_test_cells

LAB = "partie-02-paysage"

UNNORMALIZED = ("filter_answer", "normalized[name] = d * scale", "normalized[name] = d.clone()")
LAYERWISE = (
    "filter_answer",
    "scale = (w_norms / (d_norms + 1e-10)).reshape(-1, *([1] * (w.dim() - 1)))",
    "scale = w.norm() / (d.norm() + 1e-10)",
)
BIASES_KEPT = ("filter_answer", "normalized[name] = torch.zeros_like(d)", "normalized[name] = w.clone()")
ONE_SIDED = ("sharpness_answer", "rises.append((up + down) / 2 - base)", "rises.append(up - base)")
# Restores after a normal run, but not when loss_fn raises.
NO_FINALLY = ("slices_answer", "    try:\n        with torch.no_grad():", "    if True:\n        with torch.no_grad():")
NO_FINALLY_END = ("slices_answer", "    finally:\n", "    if True:\n")
# Adds the step, then subtracts it: the rounding does not cancel exactly.
SUBTRACT = (
    "slices_answer",
    "p.copy_(saved[name] + a * d1[name] + b * d2[name])",
    "p.add_(a * d1[name] + b * d2[name])\n"
    "                    losses[i, j] = float(loss_fn(model(x), y))\n"
    "                    for name, p in params.items():\n"
    "                        p.sub_(a * d1[name] + b * d2[name])\n"
    "                    continue",
)
SUBTRACT_NO_COPY = ("slices_answer", "                p.copy_(saved[name])  # copie", "                pass  # copie")

FILTER_CELLS = {"test_filter_normalize", "test_random_direction", "test_compare_measures"}
CASES = {
    "unnormalized_direction": ([UNNORMALIZED], FILTER_CELLS),
    "whole_layer_normalization": ([LAYERWISE], FILTER_CELLS),
    "biases_kept": ([BIASES_KEPT], FILTER_CELLS),
    "one_sided_sharpness": ([ONE_SIDED], {"test_sharpness", "test_compare_measures"}),
    "no_restore_on_error": ([NO_FINALLY, NO_FINALLY_END], {"test_slice_1d"}),
    "restore_by_subtracting": ([SUBTRACT, SUBTRACT_NO_COPY], {"test_slice_1d", "test_slice_2d", "test_sharpness"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected = CASES[case]
    assert failed_test_cells(LAB, edits) == expected
