"""Run a lab's solution with shortcut edits in this process: which graded cells catch them?

The shortcut tests (``tests/test_lab_<topic>.py``) reach every lab through
:func:`failed_test_cells`. Without nbgrader (``test_grading.py`` already grades the
solution and the release), it runs the locked cells, the answer cells (the
solution, edited) and the graded test cells, hidden tests included, under the
``ci`` profile, in a fresh ``__main__`` namespace (where ``forbid``'s static scan
looks for notebook functions) and on one event loop, as IPython runs a
top-level ``await``.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import sys
import traceback

import nbformat

from graders import labs


def _solution(source: str) -> str:
    return "\n".join(
        line for line in source.splitlines() if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
    )


_reused: dict[tuple[str, str], dict] = {}


def cells_after(lab_id: str, *grade_ids: str) -> frozenset[str]:
    """The cells of ``lab_id`` after the last of ``grade_ids``: a ``skip`` for a shortcut those cells catch."""
    ids = [
        c.metadata.get("nbgrader", {}).get("grade_id", "") for c in nbformat.read(labs.lab_notebook(lab_id), 4).cells
    ]
    return frozenset(filter(None, ids[max(map(ids.index, grade_ids)) + 1 :]))


def failed_test_cells(lab_id: str, edits=(), skip=frozenset(), reuse=frozenset()) -> set[str]:
    """Graded cells that raise when the solution of ``lab_id`` has ``edits`` applied.

    ``edits``: ``(grade_id, old, new)`` replacements in answer cells (``old`` must be
    there); ``skip``: cells left out (to run only the part of a lab a shortcut touches);
    ``reuse``: locked cells run once per process, the namespace they leave copied into
    the next copies (loading models is the slow part).
    A locked cell that raises fails the copy, unless the copy is edited (a shortcut may
    break what follows).
    """
    import torch

    nb = nbformat.read(labs.lab_notebook(lab_id), as_version=4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: _solution(c.source)
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for grade_id, old, new in edits:
        assert old in answers[grade_id], f"the shortcut no longer applies to {grade_id}: {old!r}"
        answers[grade_id] = answers[grade_id].replace(old, new)
    namespace, failed, loop = {"__name__": "__main__"}, set(), asyncio.new_event_loop()
    threads = torch.get_num_threads()  # a setup cell may set 1 thread for the lab's kernel

    def run(source: str, name: str) -> None:
        code = compile(source, f"<{name}>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
        result = eval(code, namespace)
        if inspect.iscoroutine(result):
            loop.run_until_complete(result)

    try:
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            grade_id = meta.get("grade_id", "")
            if cell.cell_type != "code" or grade_id in skip:
                continue
            if "parameters" in cell.metadata.get("tags", []):
                run('PROFILE = "ci"', "parameters")
                continue
            if grade_id in reuse and (lab_id, grade_id) in _reused:
                namespace.update(_reused[lab_id, grade_id])
                continue
            try:
                run(answers[grade_id] if meta.get("solution") else cell.source, grade_id or "cell")
                if grade_id in reuse:
                    _reused[lab_id, grade_id] = dict(namespace)
            except Exception:
                if meta.get("grade"):
                    print(f"--- {grade_id} failed:")  # shown by pytest when the expected set differs
                    traceback.print_exc(limit=-3, file=sys.stdout)
                    failed.add(grade_id)
                elif not edits:
                    raise
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())  # open streams end quietly
        loop.close()
        torch.set_num_threads(threads)
    return failed
