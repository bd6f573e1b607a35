"""The Projet 9 lab's tests catch plausible shortcuts, against the run's vLLM server.

Each copy runs in this process, without nbgrader (test_grading.py grades the solution
and the release): the locked cells, the answer cells (the solution, one of them
changed) and the graded test cells, hidden tests included, under the ci profile, on
one event loop as IPython runs top-level ``await``. A shortcut must fail exactly the
test cells that check what it skips, and the solution none (test_grading.py grades it).
"""

import pytest
from lab_copies import failed_test_cells

LAB = "partie-09-endpoint"
# The server's counters must see this module's requests only.
pytestmark = [pytest.mark.xdist_group("vllm-server"), pytest.mark.slow]

SEQUENTIAL = (
    "load_answer",
    "records = await asyncio.gather(*(one(p) for p in prompts))",
    "records = [await one(p) for p in prompts]",
)
UNBOUNDED = ("load_answer", "gate = asyncio.Semaphore(concurrency)", "gate = asyncio.Semaphore(len(prompts) + 1)")
RAISES = (
    "send_answer",
    "    except Exception as exc:  # un banc de charge compte les échecs",
    "    except KeyError as exc:",
)
TPOT_FOR_ALL = (
    "metrics_answer",
    'series["tpot"].append((e2el - ttft) / (r["output_tokens"] - 1))',
    'series["tpot"].append((e2el - ttft) / max(1, r["output_tokens"] - 1))',
)
TPOT_FOR_ALL_IF = ("metrics_answer", '        if r["output_tokens"] > 1:\n', "        if True:\n")
NEAREST_RANK = ("metrics_answer", "np.percentile(values, p)", 'np.percentile(values, p, method="lower")')

CASES = {
    "sequential_generator": ([SEQUENTIAL], {"test_load"}),
    "concurrency_ignored": ([UNBOUNDED], {"test_load"}),
    "errors_raised": ([RAISES], {"test_send"}),
    "tpot_with_one_token_answers": ([TPOT_FOR_ALL, TPOT_FOR_ALL_IF], {"test_metrics"}),
    "nearest_rank_percentiles": ([NEAREST_RANK], {"test_metrics"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected = CASES[case]
    assert failed_test_cells(LAB, edits) == expected
