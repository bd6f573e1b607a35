"""The KV-cache and batching lab's tests catch plausible shortcuts.

Each copy runs in this process, without nbgrader (test_grading.py already grades the
solution and the release): the locked cells, the answer cells (the solution, one of
them edited into a shortcut) and the graded test cells, hidden tests included, under
the ci profile. As under nbgrader, a cell that raises does not stop the run. A
shortcut must fail exactly the test cells that check what it skips, and the solution none (test_grading.py grades it).
"""

import pytest
from lab_copies import failed_test_cells

LAB = "partie-09-kv-batching"

# greedy_with_cache calls transformers' generate and reads the logits from the model's forward.
GENERATE = (
    "cache_answer",
    "    check_request(prompt, max_new_tokens)\n    P = len(prompt)\n",
    "    check_request(prompt, max_new_tokens)\n"
    "    P = len(prompt)\n"
    "    ids = torch.tensor([list(prompt)], device=device)\n"
    "    out = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos_token_id,\n"
    "                         pad_token_id=PAD)[0, P:]\n"
    "    logits = model(torch.cat([ids[0], out[:-1]])[None]).logits[0, P - 1 :]\n"
    "    return out.tolist(), logits\n",
)
# The cache of transformers and the model's own forward (a DynamicCache loop, as in chapter 02's section 2.1).
HF_CACHE = (
    "cache_answer",
    "    check_request(prompt, max_new_tokens)\n    P = len(prompt)\n",
    "    check_request(prompt, max_new_tokens)\n"
    "    from transformers import DynamicCache\n"
    "    hf_cache, ids, tokens, steps = DynamicCache(config=config), torch.tensor([list(prompt)], device=device), [], []\n"
    "    for _ in range(max_new_tokens):\n"
    "        logits = model(ids, past_key_values=hf_cache, use_cache=True).logits[0, -1]\n"
    "        tokens.append(int(logits.argmax()))\n"
    "        steps.append(logits)\n"
    "        if tokens[-1] == eos_token_id:\n"
    "            break\n"
    "        ids = torch.tensor([[tokens[-1]]], device=device)\n"
    "    return tokens, torch.stack(steps)\n",
)
# No cache at all: the reference decoder under another name (right tokens, every prefix projected again).
NO_CACHE = (
    "cache_answer",
    "    check_request(prompt, max_new_tokens)\n    P = len(prompt)\n",
    "    check_request(prompt, max_new_tokens)\n    return greedy_no_cache(prompt, max_new_tokens, eos_token_id)\n",
)
# The classic bug: the new token is rotated at position `step` instead of its real position.
WRONG_POSITION = ("cache_answer", "torch.tensor([[P + step]], device=device)", "torch.tensor([[step]], device=device)")
# "Continuous" batching that serves the requests one by one with the cached decoder.
SEQUENTIAL = (
    "continuous_answer",
    "    if not requests:\n        return []\n",
    "    return [greedy_with_cache(p, n, eos_token_id)[0] for p, n in requests]\n",
)
# Static batching under another name.
STATIC = (
    "continuous_answer",
    "    if not requests:\n        return []\n",
    "    return static_batching(requests, max_batch, eos_token_id)\n",
)
# The decode step forgets the per-sequence mask: short sequences attend to other columns of the cache.
NO_MASK = ("continuous_answer", "lengths[:, None], n_keys, mask=mask)", "lengths[:, None], n_keys)")

# Cells a case need not run (its shortcut is in the other half of the lab): the copies stay cheap.
CACHE_HALF = {"cache_bench", "test_cache_speed", "test_cache_equal"}
BATCHING_HALF = {"batch_bench", "test_continuous_speed", "test_continuous_equal"}
# case: (edits, cells that must fail, cells that may also fail: a speed whose ratio depends on the load, cells skipped)
CASES = {
    # generate is also slower than a lean loop: its speed cell may fail too
    "generate": ([GENERATE], {"test_cache_equal"}, {"test_cache_speed"}, BATCHING_HALF),
    "hf_cache": ([HF_CACHE], {"test_cache_equal"}, {"test_cache_speed"}, BATCHING_HALF),
    "no_cache": ([NO_CACHE], {"test_cache_equal", "test_cache_speed"}, set(), BATCHING_HALF),
    # test_cache_speed may pass: a wrong position costs no time; test_cache_equal is what catches it
    "wrong_position": ([WRONG_POSITION], {"test_cache_equal"}, {"test_cache_speed"}, BATCHING_HALF),
    "sequential": ([SEQUENTIAL], {"test_continuous_speed"}, set(), CACHE_HALF),
    "static": ([STATIC], {"test_continuous_speed"}, set(), CACHE_HALF),
    "no_mask": ([NO_MASK], {"test_continuous_equal", "test_continuous_speed"}, set(), CACHE_HALF),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, must_fail, may_fail, skip = CASES[case]
    failed = failed_test_cells(LAB, edits, skip)
    assert must_fail <= failed <= must_fail | may_fail, f"failed {sorted(failed)}, expected {sorted(must_fail)}"
