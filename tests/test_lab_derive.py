"""The drift lab's tests catch plausible shortcuts.

Each copy runs in this process, without nbgrader (test_grading.py already grades the
solution and the release): the locked cells, the answer cells (the solution, one of
them changed into a shortcut) and the graded test cells, hidden tests included, under
the ci profile. A shortcut must fail exactly the test cells that check what it skips,
and the solution none (test_grading.py grades it).
"""

import pytest
from lab_copies import failed_test_cells

LAB = "partie-10-derive"

# epsilon added to the proportions instead of a floor (another tool's convention, not the one stated)
PSI_ADDED_EPSILON = (
    "psi_answer",
    "expected, actual = np.maximum(expected, EPS), np.maximum(actual, EPS)",
    "expected, actual = expected + EPS, actual + EPS",
)
# the two distribution functions compared at the points of one sample only
KS_ONE_SAMPLE_POINTS = ("ks_answer", "    pooled = np.concatenate([a, b])", "    pooled = a")
# the biased MMD estimator: the diagonals (k(x, x) = 1) kept
MMD_BIASED = (
    "mmd_answer",
    "    xx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))\n    yy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))",
    "    xx = kxx.sum() / m**2\n    yy = kyy.sum() / n**2",
)
# a mean-only monitor: gap of the mean lengths, distance of the mean embeddings (calibrated all the same)
MEAN_ONLY = (
    "monitor_answer",
    '            "psi": psi(self.base_lengths, lengths),\n'
    '            "ks": ks_statistic(self.base_lengths, lengths),\n'
    '            "mmd2": float(mmd2),',
    '            "psi": abs(float(np.mean(lengths)) - float(self.base_lengths.mean())),\n'
    '            "ks": 0.0,\n'
    '            "mmd2": float(np.sum((vectors.mean(0) - self.base_vectors.mean(0)) ** 2)),',
)
# the rule of thumb instead of a calibration: PSI > 0.1 is "moderate drift"
FIXED_THRESHOLDS = (
    "monitor_answer",
    '        self.thresholds = dict(zip(("psi", "ks", "mmd2"), quantiles.tolist(), strict=True))',
    '        self.thresholds = {"psi": 0.1, "ks": 1.0, "mmd2": 1.0}',
)
# a dashboard without the thresholds
NO_THRESHOLD_LINE = (
    "dashboard_answer",
    '        ax.axhline(thresholds[name], color="tab:orange", linestyle="--", label="seuil")\n',
    "",
)

# the statistics alone (the monitor's cells are the slow part), the monitor alone, the dashboard alone
MONITOR = {"monitor_answer", "test_calibration", "test_detection"}
DASHBOARD = {"dashboard_answer", "test_dashboard", "figures_cell"}
CASES = {
    "psi_added_epsilon": ([PSI_ADDED_EPSILON], {"test_psi"}, MONITOR | DASHBOARD),
    "ks_one_sample_points": ([KS_ONE_SAMPLE_POINTS], {"test_ks"}, MONITOR | DASHBOARD),
    "mmd_biased": ([MMD_BIASED], {"test_mmd"}, MONITOR | DASHBOARD),
    "mean_only_monitor": ([MEAN_ONLY], {"test_detection"}, DASHBOARD),
    "fixed_thresholds": ([FIXED_THRESHOLDS], {"test_calibration", "test_detection"}, DASHBOARD),
    "dashboard_without_thresholds": ([NO_THRESHOLD_LINE], {"test_dashboard"}, {"figures_cell"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected, skip = CASES[case]
    assert failed_test_cells(LAB, edits, skip=skip, reuse={"setup"}) == expected
