from pathlib import Path

import pytest

from course_utils import syllabus

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def syl() -> dict:
    return syllabus.load()
