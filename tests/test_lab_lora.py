"""The LoRA / NF4 / QLoRA lab's (Projet 6) tests catch plausible shortcuts.

Each copy runs in this process, without nbgrader (test_grading.py already grades the
solution and the release): the locked cells, the answer cells (the solution, one of
them changed into a shortcut) and the graded test cells, hidden tests included, under
the ci profile. A shortcut must fail exactly the test cells that check what it skips,
and the solution none (test_grading.py grades it).
"""

import pytest
from lab_copies import cells_after, failed_test_cells

LAB = "partie-07-lora"

# scaling alpha instead of alpha / r: the outputs no longer match peft's
ALPHA_SCALING = (
    "lora_answer",
    "self.r, self.alpha, self.scaling = r, alpha, alpha / r",
    "self.r, self.alpha, self.scaling = r, alpha, alpha",
)
# B initialised like A: the wrapped model no longer starts from the base model
RANDOM_B = (
    "lora_answer",
    "self.lora_B = nn.Parameter(torch.zeros(self.out_features, r, device=device))",
    "self.lora_B = nn.Parameter(torch.empty(self.out_features, r, device=device))\n"
    "        nn.init.kaiming_uniform_(self.lora_B, a=math.sqrt(5))",
)
# the rest of the model left trainable: embeddings, norms and other projections move too
UNFROZEN_BASE = (
    "lora_answer",
    "    for p in model.parameters():\n        p.requires_grad_(False)\n    names",
    "    names",
)
# 16 evenly spaced levels in [-1, 1]: no normal quantiles, no zero
UNIFORM_GRID = (
    "nf4_answer",
    "return (values / values.max()).to(torch.float32)",
    "return torch.linspace(-1, 1, 2**bits)",
)
# normal quantiles, but symmetric (8 + 8) and without an exact zero
SYMMETRIC_CODEBOOK = (
    "nf4_answer",
    "return (values / values.max()).to(torch.float32)",
    "values = torch.special.ndtri(torch.linspace(delta, 1 - delta, 2**bits, dtype=torch.float64))\n"
    "    return (values / values.max()).to(torch.float32)",
)

CASES = {
    "alpha_not_divided_by_r": ([ALPHA_SCALING], {"test_lora_layer", "test_lora_model"}),
    "random_b_init": ([RANDOM_B], {"test_lora_layer"}),
    "unfrozen_base": ([UNFROZEN_BASE], {"test_lora_model", "test_qlora", "test_finetune"}),
    "uniform_grid": ([UNIFORM_GRID], {"test_codebook", "test_nf4", "test_nf4_quality"}),
    "symmetric_codebook": ([SYMMETRIC_CODEBOOK], {"test_codebook", "test_nf4"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected = CASES[case]
    # a copy stops after the last cell that must catch its shortcut
    assert failed_test_cells(LAB, edits, skip=cells_after(LAB, *expected)) == expected
