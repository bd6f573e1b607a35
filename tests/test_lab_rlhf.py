"""The RLHF lab's (Projet 7) tests catch plausible shortcuts.

Each copy runs in this process, without nbgrader (test_grading.py already grades the
solution and the release): the locked cells, the answer cells (the solution, one of
them changed into a shortcut) and the graded test cells, hidden tests included, under
the ci profile. A shortcut must fail exactly the test cells that check what it skips.
Each copy runs only the section its shortcut touches (the others are left out: the
reward model, DPO and GRPO runs cost most of a copy); setup and data load once.
"""

import pytest
from lab_copies import failed_test_cells

LAB = "partie-07-rlhf"
SETUP = frozenset({"setup", "data"})  # loaded once per process

RM = {"rm_answer", "test_bt", "rm_train", "test_reward_model"}
DPO = {"logps_answer", "dpo_answer", "dpo_run", "test_sequence_logps", "test_dpo_loss"}
GRPO = {"reward_fn_answer", "advantage_answer", "grpo_run", "test_reward_fn", "test_advantages", "test_grpo"}
COMPARE = {"kl_answer", "test_kl", "compare", "test_comparison"}
ALL = RM | DPO | GRPO | COMPARE

# the preferences read backwards: the reward model learns to prefer the corruptions
BT_SWAPPED = ("rm_answer", "-F.logsigmoid(r_chosen - r_rejected).mean()", "-F.logsigmoid(r_rejected - r_chosen).mean()")
# "the longer answer wins" instead of a learned score (the model never trains)
LENGTH_RM = (
    "rm_answer",
    "return rm(**batch).logits[:, 0]",
    "return torch.tensor([float(len(a)) for a in answers], requires_grad=True)",
)
# the policy log-ratios without the reference model's log-probabilities
DPO_NO_REF = (
    "dpo_answer",
    "chosen_logratios = policy_chosen_logps - ref_chosen_logps\n"
    "    rejected_logratios = policy_rejected_logps - ref_rejected_logps",
    "chosen_logratios = policy_chosen_logps\n    rejected_logratios = policy_rejected_logps",
)
# IPO computed with DPO's logistic loss (on the per-token log-ratios)
IPO_AS_SIGMOID = (
    "dpo_answer",
    "return ((delta - 1 / (2 * beta)) ** 2).mean()",
    "return -F.logsigmoid(beta * delta).mean()",
)
# Dr. GRPO's centring without TRL's division by the group's standard deviation
NO_STD = ("advantage_answer", "return ((grouped - mean) / (std + eps)).view(-1)", "return (grouped - mean).view(-1)")

CASES = {
    "bradley_terry_sign_swapped": ([BT_SWAPPED], ALL - RM, {"test_bt", "test_reward_model"}),
    "length_heuristic_reward_model": ([LENGTH_RM], ALL - RM, {"test_reward_model"}),
    "dpo_without_reference": ([DPO_NO_REF], ALL - DPO, {"test_dpo_loss"}),
    "ipo_with_sigmoid_loss": ([IPO_AS_SIGMOID], ALL - DPO, {"test_dpo_loss"}),
    "advantage_without_std": ([NO_STD], ALL - GRPO, {"test_advantages"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, skip, expected = CASES[case]
    assert failed_test_cells(LAB, edits, skip=skip, reuse=SETUP) == expected
