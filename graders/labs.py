"""The instructor's lab sources: where they are, what nbgrader grades in them,
and which of their lines are secret (solutions and hidden tests).

``labs/<lab_id>/`` is nbgrader's source folder for one lab: one notebook with
solutions and hidden tests. Nothing is ever written there.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parent.parent
LABS_DIR = REPO_ROOT / "labs"

SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION")
HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


class GradingError(RuntimeError):
    """A problem with the lab itself or the instructor's command (not a student's)."""


def lab_ids(labs_dir: Path = LABS_DIR) -> list[str]:
    return sorted(p.name for p in labs_dir.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def needs_server(lab_id: str) -> bool:
    """Whether the syllabus says this lab calls the course's vLLM server (``serve: true``)."""
    from course_utils import syllabus

    return any(lab["id"] == lab_id and lab.get("serve") for lab in syllabus.labs(syllabus.load()))


def lab_models(lab_id: str) -> list[str]:
    """The course models this lab loads, as the syllabus lists them (``models: [base, draft]``)."""
    from course_utils import syllabus

    return next((lab.get("models", []) for lab in syllabus.labs(syllabus.load()) if lab["id"] == lab_id), [])


def lab_notebook(lab_id: str, labs_dir: Path = LABS_DIR) -> Path:
    folder = labs_dir / lab_id
    if not folder.is_dir():
        known = ", ".join(lab_ids(labs_dir)) or "aucun"
        raise GradingError(f"Lab inconnu : {lab_id!r}. Labs disponibles : {known}.")
    notebooks = sorted(folder.glob("*.ipynb"))
    if len(notebooks) != 1:
        raise GradingError(f"Le lab {lab_id} doit contenir exactement un notebook (trouvés : {len(notebooks)}).")
    return notebooks[0]


def graded_cells(nb) -> dict[str, nbformat.NotebookNode]:
    """The cells nbgrader tracks, by grade_id."""
    cells = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") or meta.get("solution") or meta.get("locked"):
            cells[meta["grade_id"]] = cell
    return cells


def is_test_cell(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def split_regions(source: str, markers: tuple[str, str]) -> tuple[list[str], list[str]]:
    """Lines outside and inside the ``BEGIN ...``/``END ...`` regions of one cell (markers dropped)."""
    outside, inside, within = [], [], False
    for line in source.splitlines():
        if markers[0] in line:
            within = True
        elif markers[1] in line:
            within = False
        else:
            (inside if within else outside).append(line)
    return outside, inside


def secret_lines(nb) -> set[str]:
    """Lines inside solution or hidden-test regions (long enough to be specific)."""
    secrets = set()
    for cell in nb.cells:
        for markers in (SOLUTION_MARKERS, HIDDEN_MARKERS):
            for line in split_regions(cell.source, markers)[1]:
                stripped = line.strip()
                if len(stripped) > 12 and not stripped.startswith("#"):
                    secrets.add(stripped)
    return secrets
