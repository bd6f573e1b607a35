"""Every lab can be graded: the solution scores full marks, the release zero,
and hostile submissions are graded or flagged without stopping the batch.

Autograding the source solution is also each lab's execution check.
"""

import nbformat
import pytest

import submissions as S
from course_utils import syllabus
from graders import pipeline

LABS = {lab["id"]: lab for lab in syllabus.labs(syllabus.load())}
PROVING_LAB = "partie-02-entropie"


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    return pipeline.release(list(LABS), tmp_path_factory.mktemp("release"))


@pytest.mark.slow
@pytest.mark.parametrize("lab_id", sorted(LABS))
def test_solution_full_marks_release_zero(lab_id, released, tmp_path):
    source_path = pipeline.lab_notebook(lab_id)
    release_path = released[lab_id]
    S.write(nbformat.read(source_path, as_version=4), tmp_path / "copies" / "solution" / source_path.name)
    S.write(nbformat.read(release_path, as_version=4), tmp_path / "copies" / "release" / release_path.name)
    results = {r.student: r for r in pipeline.autograde(lab_id, tmp_path / "copies", tmp_path / "out")}
    points = LABS[lab_id]["points"]
    assert (results["solution"].score, results["solution"].max_score) == (points, points), results["solution"]
    assert (
        results["solution"].status == "graded" and (tmp_path / "out" / lab_id / "feedback" / "solution.html").exists()
    )
    assert results["release"].score == 0, results["release"]
    assert (tmp_path / "out" / lab_id / "grades.csv").read_text(encoding="utf-8").count("\n") == 3


@pytest.mark.parametrize("lab_id", sorted(LABS))
def test_release_hides_solutions_and_hidden_tests(lab_id, released):
    source_path = pipeline.lab_notebook(lab_id)
    assert pipeline.secret_lines(nbformat.read(source_path, as_version=4)), "the lab has solutions and hidden tests"
    # No marker and no line of a solution or a hidden test survives as a line of the
    # release (the consignes may quote a call in prose, e.g. to fix a random draw).
    pipeline.check_release(released[lab_id], source_path)


def test_release_check_catches_a_leak(released, tmp_path):
    source_path = pipeline.lab_notebook(PROVING_LAB)
    leaky = nbformat.read(released[PROVING_LAB], as_version=4)
    secret = sorted(pipeline.secret_lines(nbformat.read(source_path, as_version=4)))[0]
    leaky.cells[-1].source += "\n" + secret
    nbformat.write(leaky, tmp_path / "leaky.ipynb")
    with pytest.raises(pipeline.GradingError, match="divulgue"):
        pipeline.check_release(tmp_path / "leaky.ipynb", source_path)


def test_submission_names_are_normalised():
    assert pipeline.normalise_stem("Copy of entropie (1).ipynb") == "entropie"
    assert pipeline.normalise_stem("Copie de Entropie-checkpoint.ipynb") == "entropie"
    assert pipeline.student_id("Élodie Martin-Dupré") == "elodie_martin-dupre"
    with pytest.raises(pipeline.GradingError):
        pipeline.student_id("???")


@pytest.fixture(scope="module")
def hostile_batch(released, tmp_path_factory):
    """One autograde run over honest and hostile copies of the proving lab."""
    src = nbformat.read(pipeline.lab_notebook(PROVING_LAB), as_version=4)
    rel = nbformat.read(released[PROVING_LAB], as_version=4)
    copies, name = tmp_path_factory.mktemp("copies"), released[PROVING_LAB].name
    S.write(S.solved(src, rel), copies / "honest" / name)
    S.write(S.tests_replaced_by_pass(src, rel, ["softmax_answer"]), copies / "tests_as_pass" / name)
    S.write(
        S.with_code_appended(src, rel, "softmax_answer", "def softmax(logits, dim=-1):\n    while True:\n        pass"),
        copies / "infinite_loop" / name,
    )
    S.write(
        S.with_code_prepended(src, rel, "cross_entropy_answer", "raise RuntimeError('boom')"), copies / "raises" / name
    )
    S.write(S.with_code_prepended(src, rel, "kl_answer", "import os\nos._exit(1)"), copies / "os_exit" / name)
    S.write(S.solved(src, rel), copies / "Élodie Colab" / f"Copy of {name}")
    S.write(S.without_cell(src, rel, "test_kl"), copies / "deleted_test" / name)
    S.write(
        S.with_code_prepended(src, rel, "bigram_answer", "_hog = bytearray(10 * 2**30)"), copies / "memory_hog" / name
    )
    S.write(
        S.with_code_appended(
            src, rel, "perplexity_answer", "def assert_close(*a, **k):\n    pass\ndef perplexity(x):\n    return 0.0"
        ),
        copies / "redefines_checks" / name,
    )
    (copies / "not_json").mkdir()
    (copies / "not_json" / name).write_text("{ pas du json", encoding="utf-8")
    results = pipeline.autograde(
        PROVING_LAB, copies, tmp_path_factory.mktemp("graded"), cell_timeout=20, memory_mb=6144
    )
    return {r.student: r for r in results}


def _points(grade_ids):
    nb = nbformat.read(pipeline.lab_notebook(PROVING_LAB), as_version=4)
    return sum(
        c.metadata["nbgrader"]["points"]
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") in grade_ids
    )


@pytest.mark.slow
def test_hostile_submissions(hostile_batch):
    full = LABS[PROVING_LAB]["points"]
    r = hostile_batch
    assert len(r) == 10, "every copy is in the report"
    assert (r["honest"].score, r["honest"].status) == (full, "graded")
    # Tests replaced by `pass` are restored: only the code that was written earns points.
    assert r["tests_as_pass"].score == _points({"test_softmax", "test_log_softmax"})
    assert any("modifiée : test_softmax" in f for f in r["tests_as_pass"].flags)
    assert r["infinite_loop"].score == full - _points({"test_softmax"})
    assert any("délai" in f for f in r["infinite_loop"].flags)
    assert r["raises"].score == full - _points(
        {"test_cross_entropy", "test_ignore_index", "test_label_smoothing", "test_errors", "test_bigram"}
    )
    assert r["os_exit"].status == "failed" and r["os_exit"].score == 0
    assert any("noyau" in f for f in r["os_exit"].flags)
    assert (r["elodie_colab"].score, r["elodie_colab"].status) == (full, "flagged")
    assert any("Copy of" in f for f in r["elodie_colab"].flags)
    assert r["deleted_test"].score == full and any("supprimée : test_kl" in f for f in r["deleted_test"].flags)
    assert r["memory_hog"].score == full - _points({"test_bigram"})
    assert r["redefines_checks"].score == full - _points({"test_perplexity"})
    assert r["not_json"].status == "failed" and any("illisible" in f for f in r["not_json"].flags)
