"""The code-LLM lab's (Projet 15) tests catch plausible shortcuts.

Each copy runs in this process, without nbgrader (test_grading.py already grades the
solution and the release): the locked cells, the answer cells (the solution, one of
them changed into a shortcut) and the graded test cells, hidden tests included, under
the ci profile. A shortcut must fail exactly the test cells that check what it skips,
and the solution none (test_grading.py grades it). Each copy runs only the part of the lab its shortcut touches
(the setup and data cells, which load the base model and tokenise the corpus, run once).
"""

import pytest
from lab_copies import failed_test_cells

LAB = "partie-11-llm-code"
SETUP = frozenset({"setup", "data"})
PARTS = {
    "checkpoint": {"checkpoint_answer", "test_checkpoint", "test_resume", "resume_demo"},
    "reward": {"reward_rules", "run_tests_answer", "test_run_tests", "reward_answer", "test_reward"},
    "pass_at_k": {"pass_at_k_answer", "test_pass_at_k"},
    "budget": {
        "bpt_answer",
        "test_bytes_per_token",
        "budget_answer",
        "test_budget",
        "schedule_answer",
        "test_schedule",
    },
}
DEMOS = {"resume_demo", "generation", "book"}  # locked cells that only show results


def only(part, *dropped):
    """Skip every cell outside ``part`` (and the demonstrations, and ``dropped``)."""
    others = set().union(*(cells for name, cells in PARTS.items() if name != part))
    return frozenset(others | DEMOS | set(dropped))


# --- checkpoint and exact resume -------------------------------------------------------------------------------
# only the weights come back: the optimizer, the schedule, the data position and the generators start afresh
WEIGHTS_ONLY = (
    "checkpoint_answer",
    '    model.load_state_dict(state["model"])\n',
    '    model.load_state_dict(state["model"])\n    return int(state["step"])\n',
)
NO_SCHEDULER = ("checkpoint_answer", '    scheduler.load_state_dict(state["scheduler"])\n', "")
NO_PYTHON_RNG = ("checkpoint_answer", '    random.setstate(rng["python"])\n', "")
NO_TORCH_RNG = ("checkpoint_answer", '    torch.set_rng_state(rng["torch"])\n', "")
NO_NUMPY_RNG = (
    "checkpoint_answer",
    '    np.random.set_state((np_state["name"], np_state["key"].numpy().astype(np.uint32), np_state["pos"],\n'
    '                         np_state["has_gauss"], np_state["gauss"]))\n',
    "",
)
NO_DATA_POSITION = (
    "checkpoint_answer",
    '    loader.epoch, loader.cursor = int(data["epoch"]), int(data["cursor"])\n'
    '    loader.order = [int(i) for i in data["order"]]\n'
    '    loader.buffer = data["buffer"].tolist()\n',
    "",
)
# the whole loader pickled: torch.load(weights_only=True) refuses the file
PICKLED_LOADER = ("checkpoint_answer", '            "epoch": int(loader.epoch),\n', '            "loader": loader,\n')
# written in place: a failure while writing destroys the previous checkpoint
IN_PLACE = (
    "checkpoint_answer",
    "        torch.save(state, tmp)\n        os.replace(tmp, path)",
    "        torch.save(state, path)",
)
# loads with the unsafe unpickler: a trapped file runs its code
UNSAFE_LOAD = ("checkpoint_answer", 'map_location="cpu", weights_only=True)', 'map_location="cpu", weights_only=False)')

# --- code reward ---------------------------------------------------------------------------------------------------
# a clean exit means every test passed
RETURN_CODE = (
    "run_tests_answer",
    "    results = [False] * len(tests)\n",
    '    results = [proc.returncode == 0] * len(tests)\n    return {"results": results, "timeout": timed_out}\n',
)
# results written on the program's own stdout: a program that closes it hides them
SHARED_STDOUT = (
    "run_tests_answer",
    '    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")\n'
    "    null = os.open(os.devnull, os.O_WRONLY)\n"
    "    os.dup2(null, 1)\n"
    "    os.dup2(null, 2)\n",
    "    channel = sys.stdout\n",
)
# the results already sent are dropped when the time runs out
DROPS_PARTIAL = (
    "run_tests_answer",
    "            out, _ = proc.communicate(timeout=1.0)  # ce qui a été transmis avant la fin\n",
    '            proc.communicate(timeout=1.0)\n            out = b""\n',
)
NO_TIMEOUT_PENALTY = ("reward_answer", ' - (0.25 if run["timeout"] else 0.0)', "")
NO_DANGER_CHECK = ("reward_answer", "    if is_dangerous(tree):\n        return -0.5\n", "")

# --- pass@k --------------------------------------------------------------------------------------------------------
PASS_AT_K_RETURN = "    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1, dtype=np.float64)))\n"
NAIVE = ("pass_at_k_answer", PASS_AT_K_RETURN, "    return float(1.0 - (1.0 - c / n) ** k)\n")
BINOMIALS = ("pass_at_k_answer", PASS_AT_K_RETURN, "    return float(1 - math.comb(n - c, k) / math.comb(n, k))\n")

# --- budget and timeline -------------------------------------------------------------------------------------------
CHARACTERS = (
    "bpt_answer",
    'n_bytes = sum(len(t.encode("utf-8")) for t in texts)',
    "n_bytes = sum(len(t) for t in texts)",
)
MEAN_OF_RATIOS = (
    "bpt_answer",
    "    return n_bytes / n_tokens",
    "    rows = tokenizer(texts, add_special_tokens=False)['input_ids']\n"
    '    return float(np.mean([len(t.encode("utf-8")) / len(r) for t, r in zip(texts, rows) if r]))',
)
NO_RESTART_OVERHEAD = ("budget_answer", ' / 3600 * (1 + s["restart_overhead"])', " / 3600")
ZERO2_ALL_SHARDED = ("budget_answer", '"zero2": 2 * n + 14 * n / g', '"zero2": 16 * n / g')
SUM_OF_DURATIONS = (
    "schedule_answer",
    "    total = max(end.values())\n",
    "    total = sum(d for d, _ in phases.values())\n",
)

CHECKPOINT_CELLS = {"test_checkpoint", "test_resume"}
CASES = {
    "weights_only": ([WEIGHTS_ONLY], CHECKPOINT_CELLS, only("checkpoint")),
    "no_scheduler": ([NO_SCHEDULER], CHECKPOINT_CELLS, only("checkpoint")),
    "no_python_rng": ([NO_PYTHON_RNG], CHECKPOINT_CELLS, only("checkpoint")),
    "no_torch_rng": ([NO_TORCH_RNG], CHECKPOINT_CELLS, only("checkpoint")),
    "no_numpy_rng": ([NO_NUMPY_RNG], CHECKPOINT_CELLS, only("checkpoint")),
    "no_data_position": ([NO_DATA_POSITION], CHECKPOINT_CELLS, only("checkpoint")),
    "pickled_loader": ([PICKLED_LOADER], CHECKPOINT_CELLS, only("checkpoint")),
    "written_in_place": ([IN_PLACE], {"test_checkpoint"}, only("checkpoint")),
    "unsafe_load": ([UNSAFE_LOAD], {"test_checkpoint"}, only("checkpoint")),
    "return_code_trusted": ([RETURN_CODE], {"test_run_tests", "test_reward"}, only("reward")),
    "results_on_program_stdout": ([SHARED_STDOUT], {"test_run_tests"}, only("reward", "reward_answer", "test_reward")),
    "partial_results_dropped": ([DROPS_PARTIAL], {"test_run_tests", "test_reward"}, only("reward")),
    "no_timeout_penalty": ([NO_TIMEOUT_PENALTY], {"test_reward"}, only("reward", "test_run_tests")),
    "no_danger_check": ([NO_DANGER_CHECK], {"test_reward"}, only("reward", "test_run_tests")),
    "pass_at_k_with_replacement": ([NAIVE], {"test_pass_at_k"}, only("pass_at_k")),
    "pass_at_k_with_binomials": ([BINOMIALS], {"test_pass_at_k"}, only("pass_at_k")),
    "characters_not_bytes": ([CHARACTERS], {"test_bytes_per_token"}, only("budget")),
    "mean_of_ratios": ([MEAN_OF_RATIOS], {"test_bytes_per_token"}, only("budget")),
    "no_restart_overhead": ([NO_RESTART_OVERHEAD], {"test_budget"}, only("budget")),
    "zero2_shards_everything": ([ZERO2_ALL_SHARDED], {"test_budget"}, only("budget")),
    "timeline_sums_durations": ([SUM_OF_DURATIONS], {"test_schedule"}, only("budget")),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected, skip = CASES[case]
    assert failed_test_cells(LAB, edits, skip=skip, reuse=SETUP) == expected
