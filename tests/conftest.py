import os
from pathlib import Path

import pytest

from course_utils import serving, syllabus, test_report

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    # One vLLM server per run: the first test, notebook or grader that needs it
    # starts it in this folder; the others (every xdist worker, the kernels they
    # start) reuse it, and the controlling process stops it at the end.
    # A developer may name a running server instead (COURSE_SERVE_STATE or COURSE_SERVE_URL).
    if not hasattr(config, "workerinput") and not {"COURSE_SERVE_STATE", "COURSE_SERVE_URL"} & os.environ.keys():
        config.course_serve_folder = serving.session_server_folder()
        config.course_serve_folder.__enter__()


def pytest_runtest_teardown(item, nextitem):
    # The server's users run together on one worker: after the last one, stop the
    # server rather than let it hold memory and CPU for the rest of the run (a
    # later user would start it again).
    if test_report.uses_server(item) and (nextitem is None or not test_report.uses_server(nextitem)):
        serving.stop_shared()


def pytest_unconfigure(config):
    if folder := getattr(config, "course_serve_folder", None):
        folder.__exit__(None, None, None)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def syl() -> dict:
    return syllabus.load()
