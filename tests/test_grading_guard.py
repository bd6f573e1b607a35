"""The kernel side of the grader's guard, in this process (the grading tests
run it in real kernels: tests/test_grading.py)."""

import gc

import numpy
import pytest

import course_utils.checks as checks
from course_utils import grading_guard


@pytest.fixture
def guard():
    grading_guard.install()
    yield grading_guard
    grading_guard.check("fin du test")  # leave nothing patched for the other tests


def test_patched_checks_and_numpy_are_put_back(guard, capsys):
    real_close, real_isclose = checks.assert_close, numpy.isclose
    checks.assert_close = lambda *a, **k: None
    numpy.isclose = lambda a, b, **k: numpy.ones(numpy.shape(a), bool)
    report = guard.check("test_x")
    assert checks.assert_close is real_close and numpy.isclose is real_isclose
    assert "course_utils.checks.assert_close" in report[0] and "numpy.isclose" in report[0]
    with pytest.raises(AssertionError):
        checks.assert_close(0.0, 9.0)
    assert capsys.readouterr().out.startswith(f"{grading_guard.MARK} test_x : remis en place")


def test_a_replaced_module_is_put_back(guard):
    import sys

    real = sys.modules["numpy"]
    sys.modules["numpy"] = object()
    assert "sys.modules['numpy']" in guard.check()[0]
    assert sys.modules["numpy"] is real


def test_classes_from_cells_that_equal_anything_are_reported(guard):
    namespace = {}
    code = "class Anything:\n    def __eq__(self, other):\n        return True\n"
    exec(compile(code, "<ipython-input-7-abc>", "exec"), namespace)  # as IPython compiles a cell
    assert any("Anything (__eq__)" in line for line in guard.check())


def test_an_honest_state_reports_nothing(guard, capsys):
    gc.collect()  # classes of the other tests' cells
    assert guard.check("test_y") == []
    assert capsys.readouterr().out == f"{grading_guard.MARK} test_y : ok\n"
