"""Every lab can be graded: the solution scores full marks, the release zero,
and hostile submissions are graded or flagged without stopping the batch.

Autograding the source solution is also each lab's execution check: each lab
is released once and executed once per copy (solution, release). The hostile
copies go to a tiny fixture lab (tests/fixtures/labs/tiny-lab), where the
pipeline's behaviour is the same and a copy grades in seconds.
"""

import re

import nbformat
import pytest

import submissions as S
from course_utils import syllabus
from course_utils.figures import figures_from_notebook
from graders import labs, release, submissions
from graders.autograde import autograde

LABS = {lab["id"]: lab for lab in syllabus.labs(syllabus.load())}
TINY = S.TINY_LAB
# The GPU runs of the syllabus (`course run --profile gpu --gpu-runs`) are labs: grading the
# solution executes each end to end under ci, and it must record what the GPU run reports.
GPU_RUN_FIGURES = {
    "partie-06-pretrain": {"val_loss", "tokens_per_s"},
    "partie-07-rlhf": {"grpo_reward_first_steps", "grpo_reward_last_steps", "grpo_final_kl", "grpo_tokens_per_s"},
    "partie-09-endpoint": {"débit de sortie à la concurrence 8", "débit : concurrence maximale / séquentiel"},
}


def _errors(course):
    """Each graded cell of the solution that raised, with its error: what a failing grade says."""
    found = []
    for graded in (course / "autograded" / "solution").rglob("*.ipynb"):
        for cell in nbformat.read(graded, as_version=4).cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                    trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(output["traceback"]))
                    found.append(f"{grade_id}: {trace[-3000:]}")
    return found


def _tiny_source():
    return labs.lab_notebook(TINY, S.FIXTURE_LABS)


@pytest.fixture(scope="session")
def tiny_release(tmp_path_factory):
    return release.release([TINY], tmp_path_factory.mktemp("release"), S.FIXTURE_LABS)[TINY]


@pytest.mark.slow
@pytest.mark.parametrize("lab_id", sorted(LABS))
def test_lab_release_and_grades(lab_id, tmp_path):
    source_path = labs.lab_notebook(lab_id)
    assert labs.secret_lines(nbformat.read(source_path, as_version=4)), "the lab has solutions and hidden tests"
    # prepare_course checks the release: no marker and no line of a solution or a
    # hidden test survives (the consignes may quote a call in prose).
    release_path = release.prepare_course(lab_id, tmp_path / "course")
    S.write(nbformat.read(source_path, as_version=4), tmp_path / "copies" / "solution" / source_path.name)
    S.write(nbformat.read(release_path, as_version=4), tmp_path / "copies" / "release" / release_path.name)
    results = {r.student: r for r in autograde(lab_id, tmp_path / "copies", tmp_path / "out", prepared=release_path)}
    solution, points = results["solution"], LABS[lab_id]["points"]
    assert (solution.score, solution.max_score) == (points, points), (solution, _errors(tmp_path / "course"))
    assert solution.status == "graded" and (tmp_path / "out" / lab_id / "feedback" / "solution.html").exists()
    # Library noise cannot zero a test cell (it is kept as stdout), but a lab must not make any.
    assert solution.notes == [], f"une cellule de test écrit sur stderr : {solution.notes}"
    assert results["release"].score == 0, results["release"]
    assert (tmp_path / "out" / lab_id / "grades.csv").read_text(encoding="utf-8").count("\n") == 3
    if lab_id in GPU_RUN_FIGURES:
        (graded,) = (tmp_path / "course" / "autograded" / "solution").rglob("*.ipynb")
        recorded = {f["name"] for f in figures_from_notebook(nbformat.read(graded, as_version=4))}
        assert GPU_RUN_FIGURES[lab_id] <= recorded, GPU_RUN_FIGURES[lab_id] - recorded


def test_release_check_catches_a_leak(tiny_release, tmp_path):
    leaky = nbformat.read(tiny_release, as_version=4)
    secret = sorted(labs.secret_lines(nbformat.read(_tiny_source(), as_version=4)))[0]
    leaky.cells[-1].source += "\n" + secret
    nbformat.write(leaky, tmp_path / "leaky.ipynb")
    with pytest.raises(labs.GradingError, match="divulgue"):
        release.check_release(tmp_path / "leaky.ipynb", _tiny_source())


def test_submission_names_are_normalised():
    assert submissions.normalise_stem("Copy of entropie (1).ipynb") == "entropie"
    assert submissions.normalise_stem("Copie de Entropie-checkpoint.ipynb") == "entropie"
    assert submissions.student_id("Élodie Martin-Dupré") == "elodie_martin-dupre"
    with pytest.raises(labs.GradingError):
        submissions.student_id("???")


# Session scope: computed once per worker even when the slow-first order puts
# other modules' tests between the two that use it (a module fixture would be rebuilt).
@pytest.fixture(scope="session")
def hostile_batch(tiny_release, tmp_path_factory):
    """One autograde run over honest and hostile copies of the tiny lab."""
    src, rel = nbformat.read(_tiny_source(), as_version=4), nbformat.read(tiny_release, as_version=4)
    copies, name = tmp_path_factory.mktemp("copies"), tiny_release.name
    S.write(S.solved(src, rel), copies / "honest" / name)
    S.write(rel, copies / "release" / name)
    S.write(S.tests_replaced_by_pass(src, rel, ["add_answer", "mean_answer"]), copies / "tests_as_pass" / name)
    S.write(
        S.with_code_appended(src, rel, "add_answer", "def add(a, b):\n    while True:\n        pass"),
        copies / "infinite_loop" / name,
    )
    S.write(S.with_code_prepended(src, rel, "mean_answer", "raise RuntimeError('boom')"), copies / "raises" / name)
    S.write(S.with_code_prepended(src, rel, "square_answer", "import os\nos._exit(1)"), copies / "os_exit" / name)
    S.write(S.solved(src, rel), copies / "Élodie Colab" / f"Copy of {name}")
    S.write(S.without_cell(src, rel, "test_square"), copies / "deleted_test" / name)
    S.write(
        S.with_code_prepended(src, rel, "scale_answer", "_hog = bytearray(4 * 2**30)"), copies / "memory_hog" / name
    )
    S.write(
        S.with_code_appended(
            src, rel, "square_answer", "def assert_close(*a, **k):\n    pass\ndef square(x):\n    return 0.0"
        ),
        copies / "redefines_checks" / name,
    )
    # Checks switched off at module level: the guard puts them back before each test cell.
    S.write(
        S.with_code_appended(
            src,
            rel,
            "square_answer",
            "import numpy\nimport course_utils.checks as checks\nchecks.assert_close = lambda *a, **k: None\n"
            "numpy.isclose = lambda a, b, **k: numpy.ones(numpy.shape(a), bool)\ndef square(x):\n    return 0.0",
        ),
        copies / "patches_checks" / name,
    )
    S.write(
        S.with_code_appended(
            src,
            rel,
            "add_answer",
            "class Anything:\n    def __eq__(self, other):\n        return True\ndef add(a, b):\n    return Anything()",
        ),
        copies / "equals_anything" / name,
    )
    (copies / "not_json").mkdir()
    (copies / "not_json" / name).write_text("{ pas du json", encoding="utf-8")
    out = tmp_path_factory.mktemp("graded")
    results = autograde(TINY, copies, out, cell_timeout=5, memory_mb=2048, labs_dir=S.FIXTURE_LABS)
    return {r.student: r for r in results}, out / TINY


def _points(grade_ids):
    return sum(
        c.metadata["nbgrader"]["points"]
        for c in nbformat.read(_tiny_source(), as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("grade_id") in grade_ids
    )


@pytest.mark.slow
@pytest.mark.xdist_group("hostile")
def test_hostile_submissions(hostile_batch):
    r, _ = hostile_batch
    full = _points({"test_add", "test_mean", "test_square", "test_noisy"})
    assert len(r) == 13, "every copy is in the report"
    assert (r["honest"].score, r["honest"].max_score, r["honest"].status) == (full, full, "graded")
    assert r["release"].score == 0
    # Tests replaced by `pass` are restored: only the code that was written earns points.
    assert r["tests_as_pass"].score == _points({"test_add", "test_mean"})
    assert any("modifiée : test_add" in f for f in r["tests_as_pass"].flags)
    assert r["infinite_loop"].score == full - _points({"test_add"})
    assert any("délai" in f for f in r["infinite_loop"].flags)
    assert r["raises"].score == full - _points({"test_mean"})
    assert r["os_exit"].status == "failed" and r["os_exit"].score == 0
    assert any("noyau" in f for f in r["os_exit"].flags)
    assert (r["elodie_colab"].score, r["elodie_colab"].status) == (full, "flagged")
    assert any("Copy of" in f for f in r["elodie_colab"].flags)
    assert r["deleted_test"].score == full and any("supprimée : test_square" in f for f in r["deleted_test"].flags)
    assert r["memory_hog"].score == full - _points({"test_noisy"})
    assert r["redefines_checks"].score == full - _points({"test_square"})
    assert r["not_json"].status == "failed" and any("illisible" in f for f in r["not_json"].flags)


@pytest.mark.slow
@pytest.mark.xdist_group("hostile")
def test_checks_a_submission_cannot_switch_off(hostile_batch):
    r, _ = hostile_batch
    full = _points({"test_add", "test_mean", "test_square", "test_noisy"})
    assert r["honest"].flags == [], "the guard finds nothing in an honest copy"
    # assert_close and numpy.isclose put back before the tests: the wrong square loses its points.
    patched = r["patches_checks"]
    assert (patched.score, patched.status) == (full - _points({"test_square"}), "flagged"), patched
    assert any("course_utils.checks.assert_close" in f and "numpy.isclose" in f for f in patched.flags), patched.flags
    # `==` on an object that equals anything: flagged for a manual look, never silently graded.
    anything = r["equals_anything"]
    assert anything.status == "flagged" and any("Anything (__eq__)" in f for f in anything.flags), anything.flags


@pytest.mark.slow
@pytest.mark.xdist_group("hostile")
def test_library_noise_never_zeroes_a_test_cell(hostile_batch):
    r, lab_out = hostile_batch
    # test_noisy writes to stderr: full marks, status untouched, the instructor is told.
    assert r["honest"].status == "graded" and r["honest"].notes == [
        "sortie sur stderr dans la cellule de test test_noisy"
    ]
    autograded = nbformat.read(lab_out / "nbgrader" / "autograded" / "honest" / TINY / "tiny.ipynb", as_version=4)
    (noisy,) = [c for c in autograded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_noisy"]
    streams = [o for o in noisy.outputs if o.output_type == "stream"]
    assert all(o.name == "stdout" for o in streams), "stderr gardé comme stdout"
    text = "".join(o.text for o in streams)
    assert "avertissement d'une bibliothèque" in text, "le texte reste visible dans le retour"
    assert "gemm_4bit" not in text, "le démarrage du noyau fait taire les loggers des bibliothèques"


@pytest.mark.slow
def test_two_grading_machines_share_one_class_gradebook(tiny_release, tmp_path):
    """Each copy in its own course directory, two at a time; the parent merges into the class gradebook."""
    from nbgrader.api import Gradebook

    src, rel = nbformat.read(_tiny_source(), as_version=4), nbformat.read(tiny_release, as_version=4)
    name, url = tiny_release.name, f"sqlite:///{tmp_path / 'classe.db'}"  # PostgreSQL in a real class
    batches = {
        "machine1": {"alice": S.solved(src, rel), "bob": rel},
        "machine2": {"carol": S.with_code_appended(src, rel, "square_answer", "def square(x):\n    return 0.0")},
    }
    for machine, copies in batches.items():
        for student, nb in copies.items():
            S.write(nb, tmp_path / machine / student / name)
        results = autograde(
            TINY, tmp_path / machine, tmp_path / f"out-{machine}", labs_dir=S.FIXTURE_LABS, jobs=2, db_url=url
        )
        assert {r.student for r in results} == set(copies)
        for student in copies:  # each copy was graded in a course directory of its own
            assert (tmp_path / f"out-{machine}" / TINY / "copies" / student / "gradebook.db").exists()
    full = _points({"test_add", "test_mean", "test_square", "test_noisy"})
    with Gradebook(url) as gradebook:
        scores = {s.student.id: s.score for s in gradebook.assignment_submissions(TINY)}
    assert scores == {"alice": full, "bob": 0, "carol": full - _points({"test_square"})}


def test_fork_server_knows_nbgrader_s_gradebook_version(monkeypatch):
    """The fork server reads the gradebook schema version in process: nbgrader's `alembic heads` gives the same."""
    import os
    import sys
    from pathlib import Path

    from nbgrader.api import get_alembic_version

    from graders.forkserver import alembic_head

    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    assert alembic_head() == get_alembic_version()
