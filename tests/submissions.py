"""Build submissions of a lab notebook for the grading tests: honest, empty,
partial and hostile ones. Each builder takes the source notebook (with
solutions) and the released one (student version) and returns a notebook.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

# A lab of a few seconds, for the grading pipeline's own tests (hostile copies, validate).
FIXTURE_LABS = Path(__file__).resolve().parent / "fixtures" / "labs"
TINY_LAB = "tiny-lab"


def answer_cell(nb, grade_id):
    """The cell of ``nb`` with this nbgrader grade id (to rewrite a copy's answer)."""
    return _cell(nb, grade_id)


def _cell(nb, grade_id):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise KeyError(grade_id)


def _answer_ids(nb) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


def _test_ids(nb) -> list[str]:
    return [
        c.metadata["nbgrader"]["grade_id"]
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")
    ]


def solved(source, released, answers=None):
    """The release with the instructor's answers pasted in (all, or only ``answers``)."""
    nb = copy.deepcopy(released)
    for grade_id in _answer_ids(released) if answers is None else answers:
        _cell(nb, grade_id).source = _strip_markers(_cell(source, grade_id).source)
    return nb


def _strip_markers(text: str) -> str:
    return "\n".join(
        line for line in text.splitlines() if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
    )


def tests_replaced_by_pass(source, released, answers):
    nb = solved(source, released, answers)
    for grade_id in _test_ids(nb):
        _cell(nb, grade_id).source = "pass"
    return nb


def with_code_prepended(source, released, grade_id, code):
    """Full solution, with ``code`` inserted at the top of one answer cell."""
    nb = solved(source, released)
    cell = _cell(nb, grade_id)
    cell.source = code + "\n" + cell.source
    return nb


def with_code_appended(source, released, grade_id, code):
    nb = solved(source, released)
    cell = _cell(nb, grade_id)
    cell.source = cell.source + "\n" + code
    return nb


def without_cell(source, released, grade_id):
    nb = solved(source, released)
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return nb


def write(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
