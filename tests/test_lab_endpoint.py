"""The Projet 9 lab's tests catch plausible shortcuts, against the run's vLLM server.

Each copy runs in this process, without nbgrader (test_grading.py grades the solution
and the release): the locked cells, the answer cells (the solution, one of them
changed) and the graded test cells, hidden tests included, under the ci profile, on
one event loop as IPython runs top-level ``await``. A shortcut must fail exactly the
test cells that check what it skips, and the solution none.
"""

import ast
import asyncio
import inspect

import nbformat
import pytest

from graders import labs

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
    "solution": ([], set()),
    "sequential_generator": ([SEQUENTIAL], {"test_load", "test_bench"}),
    "concurrency_ignored": ([UNBOUNDED], {"test_load", "test_bench"}),
    "errors_raised": ([RAISES], {"test_send"}),
    "tpot_with_one_token_answers": ([TPOT_FOR_ALL, TPOT_FOR_ALL_IF], {"test_metrics"}),
    "nearest_rank_percentiles": ([NEAREST_RANK], {"test_metrics"}),
}


def _solution(source: str) -> str:
    return "\n".join(
        line for line in source.splitlines() if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
    )


def failed_test_cells(edits) -> set[str]:
    nb = nbformat.read(labs.lab_notebook(LAB), as_version=4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: _solution(c.source)
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for grade_id, old, new in edits:
        assert old in answers[grade_id], f"the shortcut no longer applies to {grade_id}: {old!r}"
        answers[grade_id] = answers[grade_id].replace(old, new)
    namespace, failed, loop = {"__name__": "__lab__"}, set(), asyncio.new_event_loop()

    def run(source: str, name: str) -> None:
        code = compile(source, name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, namespace)
        if inspect.iscoroutine(result):
            loop.run_until_complete(result)

    try:
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            grade_id = meta.get("grade_id")
            if cell.cell_type != "code":
                continue
            if "parameters" in cell.metadata.get("tags", []):
                run('PROFILE = "ci"', "parameters")
            elif meta.get("solution"):
                run(answers[grade_id], grade_id)
            elif meta.get("grade"):
                try:
                    run(cell.source, grade_id)
                except Exception:
                    failed.add(grade_id)
            elif meta.get("locked"):
                run(cell.source, grade_id)
    finally:
        loop.close()
    return failed


@pytest.mark.parametrize("case", sorted(CASES))
def test_shortcuts_fail_the_cells_that_check_them(case):
    edits, expected = CASES[case]
    assert failed_test_cells(edits) == expected
