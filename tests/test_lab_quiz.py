"""The interview quiz lab's tests catch plausible shortcuts.

Each copy runs in this process, without nbgrader (test_grading.py already grades the
solution and the release): the locked cells, the answer cells (the solution, one of
them changed into a shortcut) and the graded test cells, hidden tests included, under
the ci profile. A shortcut must fail exactly the test cells that check what it skips,
and the solution none (test_grading.py grades it). The setup cell (torch, transformers) runs once.

Hard-coded answers are the shortcut this lab is about: the hidden tests of parts A
and C draw their instances at grading time, so the numbers of the visible examples
(or of a neighbour's run) pass the visible asserts and nothing else.
"""

import pytest
import test_lab_design
from lab_copies import failed_test_cells

from graders import labs

LAB = "partie-12-quiz"

PART_A = {
    "params_answer",
    "params_self_check",
    "test_params",
    "kv_cache_answer",
    "test_kv_cache",
    "compute_answer",
    "test_training_budget",
    "test_chinchilla",
    "perplexity_answer",
    "test_perplexity",
    "lora_answer",
    "test_lora",
}
PART_B = {"concepts_answer"} | {f"test_concepts_{i}" for i in range(1, 7)}
PART_C = {"design_answer", "test_design_sizing", "test_design_costs"}

# --- part A: formulas
PARAMS_BODY = '    d, d_ff, n_layers = config["d_model"], config["d_ff"], config["n_layers"]'
# the visible examples' numbers, returned by name (a neighbour's printed output)
PARAMS_CONSTANTS = (
    "params_answer",
    PARAMS_BODY,
    '    return 124_439_808 if config["vocab_size"] == 50257 else 6_738_415_616\n' + PARAMS_BODY,
)
# K and V as wide as Q: multi-head attention assumed, GQA ignored
PARAMS_NO_GQA = ("params_answer", 'kv = config["n_kv_heads"] * head_dim', 'kv = config["n_heads"] * head_dim')
# the count read off a transformers model instead of computed (forbidden in part A)
PARAMS_FROM_TRANSFORMERS = (
    "params_answer",
    PARAMS_BODY,
    "    return sum(p.numel() for p in transformers_model(config).parameters())\n" + PARAMS_BODY,
)
KV_NO_GQA = (
    "kv_cache_answer",
    '2 * config["n_layers"] * config["n_kv_heads"]',
    '2 * config["n_layers"] * config["n_heads"]',
)
KV_FIXED_FP16 = (
    "kv_cache_answer",
    "element = torch.empty((), dtype=getattr(torch, dtype)).element_size()",
    "element = 2  # float16",
)
FORWARD_ONLY_FLOPS = ("compute_answer", "flops = 6.0 * n_params * n_tokens", "flops = 2.0 * n_params * n_tokens")
DAYS_ON_ONE_GPU = ("compute_answer", '"days": gpu_hours / n_gpus / 24.0', '"days": gpu_hours / 24.0')
CHINCHILLA_CONSTANT = (
    "compute_answer",
    "    n_params = math.sqrt(compute_flops / (6.0 * tokens_per_param))\n",
    "    return 7e10, 1.4e12\n",
)
PERPLEXITY_BASE_2 = ("perplexity_answer", "return float(math.exp(mean_loss))", "return float(2.0**mean_loss)")
LORA_SQUARE_KV = ("lora_answer", '"k_proj": (d, kv), "v_proj": (d, kv)', '"k_proj": (d, d), "v_proj": (d, d)')
LORA_FROM_MODEL = (
    "lora_answer",
    '    d, d_ff = config["d_model"], config["d_ff"]\n',
    "    return sum(rank * (m.in_features + m.out_features) for name, m in"
    " transformers_model(config).named_modules()\n"
    '               if name.rsplit(".", 1)[-1] in targets and "lm_head" not in name)\n',
)


# --- part B: answers that need no knowledge
def _answers_edit(pick) -> tuple[str, str, str]:
    """The key of the solution replaced by the letters a knowledge-free strategy picks."""
    import nbformat

    nb = nbformat.read(labs.lab_notebook(LAB), as_version=4)
    questions = test_lab_design.parse_mcqs(nb)
    key = ", ".join(f'"{q}": "{q_["answer"]}"' for q, q_ in questions.items())
    picked = ", ".join(f'"{q}": "{pick(q_["options"])}"' for q, q_ in questions.items())
    return ("concepts_answer", f"answers = {{{key}}}", f"answers = {{{picked}}}")


ALL_CONCEPTS = {f"test_concepts_{i}" for i in range(1, 7)}

# --- part C: sizing
DESIGN_BODY = "    s = scenario\n"
# the example's answer, copied
DESIGN_EXAMPLE_COPIED = (
    "design_answer",
    DESIGN_BODY,
    '    return {"components": ["chunking", "embedder", "vector_index", "bm25", "retriever", "llm", "guardrails",'
    ' "monitoring"], "peak_rps": 15.0, "concurrent_streams": 150.0, "stream_tokens_per_s": 50.0,'
    ' "streams_per_replica": 48, "replicas": 5, "index_gib": 7.62939453125, "gpu_monthly_cost": 9000.0,'
    ' "api_monthly_cost": 194400.0, "choice": "self_hosted"}\n',
)
ALWAYS_SELF_HOSTED = (
    "design_answer",
    '"choice": "api" if api_cost < gpu_cost else "self_hosted"',
    '"choice": "self_hosted"',
)
NO_REDUNDANCY = (
    "design_answer",
    "replicas = math.ceil(concurrent / per_replica) + 1",
    "replicas = math.ceil(concurrent / per_replica)",
)
# sized on throughput only: every replica filled to replica_max_streams, whatever the SLO asks of each stream
THROUGHPUT_ONLY = (
    "design_answer",
    'per_replica = min(s["replica_max_streams"], math.floor(s["replica_tokens_per_s"] / stream_speed))',
    'per_replica = s["replica_max_streams"]',
)
NO_BM25 = ("design_answer", '    if s["exact_identifiers"]:\n        components.insert(4, "bm25")\n', "")

SKIP_A, SKIP_BC = PART_B | PART_C, PART_A
CASES = {
    "params_constants": ([PARAMS_CONSTANTS], {"test_params"}, SKIP_A),
    "params_without_gqa": ([PARAMS_NO_GQA], {"test_params"}, SKIP_A),
    "params_from_transformers": ([PARAMS_FROM_TRANSFORMERS], {"test_params"}, SKIP_A),
    "kv_cache_without_gqa": ([KV_NO_GQA], {"test_kv_cache"}, SKIP_A),
    "kv_cache_always_fp16": ([KV_FIXED_FP16], {"test_kv_cache"}, SKIP_A),
    "forward_only_flops": ([FORWARD_ONLY_FLOPS], {"test_training_budget"}, SKIP_A),
    "days_on_one_gpu": ([DAYS_ON_ONE_GPU], {"test_training_budget"}, SKIP_A),
    "chinchilla_constant": ([CHINCHILLA_CONSTANT], {"test_chinchilla"}, SKIP_A),
    "perplexity_base_2": ([PERPLEXITY_BASE_2], {"test_perplexity"}, SKIP_A),
    "lora_square_kv": ([LORA_SQUARE_KV], {"test_lora"}, SKIP_A),
    "lora_from_transformers": ([LORA_FROM_MODEL], {"test_lora"}, SKIP_A),
    **{
        f"answers_{name}": ([_answers_edit(pick)], ALL_CONCEPTS, SKIP_BC | PART_C)
        for name, pick in {
            "always_a": lambda opts: "a",
            "always_d": lambda opts: "d",
            "longest": test_lab_design.STRATEGIES["la plus longue"],
            "shortest": test_lab_design.STRATEGIES["la plus courte"],
        }.items()
    },
    "design_example_copied": ([DESIGN_EXAMPLE_COPIED], {"test_design_sizing", "test_design_costs"}, SKIP_BC | PART_B),
    "design_always_self_hosted": ([ALWAYS_SELF_HOSTED], {"test_design_costs"}, SKIP_BC | PART_B),
    "design_no_redundancy": ([NO_REDUNDANCY], {"test_design_sizing", "test_design_costs"}, SKIP_BC | PART_B),
    "design_throughput_only": ([THROUGHPUT_ONLY], {"test_design_sizing", "test_design_costs"}, SKIP_BC | PART_B),
    "design_without_bm25": ([NO_BM25], {"test_design_costs"}, SKIP_BC | PART_B),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected, skip = CASES[case]
    assert failed_test_cells(LAB, edits, skip=skip, reuse={"setup"}) == expected


def _solution_function(grade_id: str, name: str):
    """A function of the lab's solution, defined alone (its cell's demo lines left out)."""
    import math

    import nbformat
    import torch

    nb = nbformat.read(labs.lab_notebook(LAB), as_version=4)
    (source,) = [c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    namespace = {"math": math, "torch": torch}
    exec(source.split("\n\n\nprint(", 1)[0], namespace)  # noqa: S102 - the lab's own solution
    return namespace[name]


@pytest.mark.slow
def test_lora_count_is_what_peft_trains():
    """The hidden test counts LoRA parameters on the targeted nn.Linear: peft trains exactly those."""
    import random

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    lora_params = _solution_function("lora_answer", "lora_params")
    targets = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    rng = random.Random(0)
    for _ in range(3):
        n_heads = rng.choice([4, 8])
        config = dict(
            vocab_size=64,
            d_model=n_heads * 8,
            n_layers=rng.randint(1, 3),
            n_heads=n_heads,
            n_kv_heads=rng.choice([1, 2, n_heads]),
            d_ff=rng.randrange(16, 96),
        )
        rank, chosen = rng.choice([1, 2, 4]), rng.sample(targets, rng.randint(1, 7))
        model = LlamaForCausalLM(
            LlamaConfig(
                vocab_size=64,
                hidden_size=config["d_model"],
                num_hidden_layers=config["n_layers"],
                num_attention_heads=n_heads,
                num_key_value_heads=config["n_kv_heads"],
                intermediate_size=config["d_ff"],
                bos_token_id=0,
                eos_token_id=0,
                pad_token_id=0,
            )
        )
        with torch.no_grad():
            trainable, _ = get_peft_model(
                model, LoraConfig(r=rank, target_modules=chosen)
            ).get_nb_trainable_parameters()
        assert lora_params(config, rank, chosen) == trainable, (config, rank, chosen)
