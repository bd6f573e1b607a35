"""Every notebook is stored clean and follows the course's shape."""

import ast

import nbformat
import pytest

from course_utils import syllabus

SYL = syllabus.load()
ROOT = syllabus.REPO_ROOT
CHAPTERS = syllabus.notebooks(SYL)
LABS = [
    p.relative_to(ROOT).as_posix() for lab in syllabus.labs(SYL) for p in (ROOT / "labs" / lab["id"]).glob("*.ipynb")
]


def read(path):
    return nbformat.read(ROOT / path, as_version=4)


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


@pytest.mark.parametrize("path", CHAPTERS + LABS)
def test_stored_clean(path):
    nb = read(path)
    nbformat.validate(nb)
    assert set(nb.metadata) <= {"kernelspec", "language_info"}, "métadonnées du notebook à nettoyer"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, "notebook enregistré avec des sorties"
        assert set(cell.metadata) <= {"tags", "nbgrader", "deletable", "editable"}, cell.metadata


@pytest.mark.parametrize("path", CHAPTERS + LABS)
def test_shape(path):
    nb = read(path)
    head = nb.cells[0].source
    for word in ("Objectifs", "Prérequis", "Durée"):
        assert word in head, f"la première cellule doit donner : {word}"
    tail = "\n".join(c.source for c in nb.cells[-2:])
    assert "Résumé" in tail and "Références" in tail
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert syllabus.COLAB_TAG in code[0].metadata.get("tags", []), (
        "la première cellule de code installe le cours sur Colab"
    )
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "PROFILE = None" in params[0].source, "une cellule `parameters` avec PROFILE = None"
    assert any("pick(" in c.source for c in code), "les tailles par profil passent par course_utils.pick"


@pytest.mark.parametrize("path", LABS)
def test_lab_cells(path):
    nb = read(path)
    tests = [c for c in nb.cells if nbgrader_meta(c).get("grade") and not nbgrader_meta(c).get("solution")]
    answers = [c for c in nb.cells if nbgrader_meta(c).get("solution")]
    assert tests and answers
    assert nbgrader_meta(nb.cells[0]).get("locked"), "les consignes sont verrouillées"
    for cell in answers:
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source
    for cell in tests:
        meta = nbgrader_meta(cell)
        visible, _, hidden = cell.source.partition("### BEGIN HIDDEN TESTS")
        assert meta.get("points", 0) > 0, meta["grade_id"]
        assert hidden.strip(), f"{meta['grade_id']} : pas de tests cachés"
        assert "assert" in visible, f"{meta['grade_id']} : au moins un test visible"
        # A final expression that evaluates to False would still score full marks.
        last = ast.parse(cell.source).body[-1]
        assert not (isinstance(last, ast.Expr) and not isinstance(last.value, ast.Call)), meta["grade_id"]
        # Any output on stderr scores 0 in nbgrader: no progress bars in tests.
        assert "tqdm" not in cell.source and "warnings.warn" not in cell.source
