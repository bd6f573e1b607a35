"""The decoding lab's tests catch plausible shortcuts.

Each copy runs in this process, without nbgrader (test_grading.py already grades the
solution and the release): the locked cells, the answer cells (the solution, one of
them replaced by a shortcut) and the graded test cells, hidden tests included, under
the ci profile. A shortcut must fail exactly the test cells that check what it gets
wrong, and the solution none (test_grading.py grades it).
"""

import pytest
from lab_copies import failed_test_cells

LAB = "partie-09-decodage"

# Divides by zero instead of refusing a zero temperature.
NO_CHECK = (
    "temperature_answer",
    '    if not isinstance(temperature, float) or not temperature > 0:\n        raise ValueError(f"la température doit être un float strictement positif, reçu {temperature!r}")\n',
    "",
)
# Keeps exactly k tokens (ties of the k-th broken by torch.topk).
TOPK_INDICES = (
    "top_k_answer",
    "    kth = torch.topk(scores, k).values[..., -1:]\n    return scores.masked_fill(scores < kth, filter_value)",
    "    keep = torch.zeros_like(scores, dtype=torch.bool).scatter(-1, torch.topk(scores, k).indices, True)\n"
    "    return scores.masked_fill(~keep, filter_value)",
)
# The library shortcut itself.
TOPK_LIBRARY = (
    "top_k_answer",
    "    k = min(max(top_k, min_tokens_to_keep), scores.shape[-1])",
    "    return hf.TopKLogitsWarper(top_k, filter_value, min_tokens_to_keep)(None, scores)",
)
# Forgets min_tokens_to_keep.
TOPP_NO_MIN = ("top_p_answer", "    remove[..., -min_tokens_to_keep:] = False", "    remove[..., -1:] = False")
# Strict comparison at the boundary: keeps one token too many when a cumulated sum hits 1 - top_p exactly.
TOPP_STRICT = ("top_p_answer", "    remove = cumulative <= 1 - top_p", "    remove = cumulative < 1 - top_p")
# Plain sum: an already filtered token (-inf) makes the entropy nan.
TYPICAL_SUM = (
    "typical_answer",
    "    entropy = -(logp * logp.exp()).nansum(dim=-1, keepdim=True)",
    "    entropy = -(logp * logp.exp()).sum(dim=-1, keepdim=True)",
)
# Divides every repeated token's score, negative ones included.
PENALTY_DIVIDE = (
    "penalty_answer",
    "    seen = torch.where(seen < 0, seen * penalty, seen / penalty)",
    "    seen = seen / penalty",
)
# Temperature after the truncations: the kept set of top-p and typical changes.
STEP_ORDER = (
    "step_answer",
    "    if temperature != 1.0:\n        scores = apply_temperature(scores, temperature)\n    if top_k:",
    "    if top_k:",
)
STEP_ORDER_END = (
    "step_answer",
    "    return torch.multinomial(scores.softmax(dim=-1), num_samples=1).squeeze(1)",
    "    if temperature != 1.0:\n        scores = apply_temperature(scores, temperature)\n"
    "    return torch.multinomial(scores.softmax(dim=-1), num_samples=1).squeeze(1)",
)
# No mask: plain sampling.
JSON_NO_MASK = ("json_answer", "        xgr.apply_token_bitmask_inplace(logits, bitmask)\n", "")
JSON_NO_ACCEPT_CHECK = (
    "json_answer",
    '            raise RuntimeError("jeton refusé par la grammaire")',
    "            break",
)
# Greedy under the mask: always valid, but not the sampler the instructions ask for.
JSON_GREEDY = (
    "json_answer",
    "        token = torch.multinomial(logits.softmax(dim=-1), num_samples=1).squeeze(1)",
    "        token = logits.argmax(dim=-1)",
)
# xgrammar's ready-made processor with generate.
JSON_CONTRIB = (
    "json_answer",
    "    torch.manual_seed(seed)\n",
    "    torch.manual_seed(seed)\n"
    "    out = model.generate(input_ids, do_sample=True, top_k=0, max_new_tokens=max_new_tokens, pad_token_id=PAD,\n"
    "                         logits_processor=[xgrammar.contrib.hf.LogitsProcessor(compiled_grammar)])\n"
    "    out = out[0, input_ids.shape[1]:].tolist()\n"
    "    return out[:-1] if out[-1:] == [EOS] else out\n",
)

CASES = {
    "temperature_unchecked": ([NO_CHECK], {"test_temperature"}),
    "top_k_by_indices": ([TOPK_INDICES], {"test_top_k"}),
    "top_k_library": ([TOPK_LIBRARY], {"test_top_k", "test_step"}),
    "top_p_ignores_min_tokens": ([TOPP_NO_MIN], {"test_top_p"}),
    "top_p_strict_boundary": ([TOPP_STRICT], {"test_top_p"}),
    "typical_plain_sum": ([TYPICAL_SUM], {"test_typical"}),
    "penalty_always_divides": ([PENALTY_DIVIDE], {"test_penalty"}),
    "temperature_last": ([STEP_ORDER, STEP_ORDER_END], {"test_step"}),
    "json_unconstrained": ([JSON_NO_MASK, JSON_NO_ACCEPT_CHECK], {"test_json"}),
    "json_greedy": ([JSON_GREEDY], {"test_json"}),
    "json_contrib_processor": ([JSON_CONTRIB], {"test_json"}),
}


# Its batch draw chains top-k (-inf) then typical: the outcome depends on the logits drawn at grading time.
MAY_FAIL = {"typical_plain_sum": {"test_step"}, "top_k_by_indices": {"test_step"}}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected = CASES[case]
    assert failed_test_cells(LAB, edits) - MAY_FAIL.get(case, set()) == expected
