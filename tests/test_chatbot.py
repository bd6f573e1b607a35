"""course_utils.chatbot: the day-02 backend found from each place a chapter runs, or a clear error."""

import sys
from pathlib import Path

import pytest

from course_utils import chatbot

ROOT = Path(__file__).resolve().parent.parent
BACKEND = ROOT / "day-02" / "chatbot_backend.py"


@pytest.mark.parametrize("start", ["day-02", "partie-11", "."], ids=["its-folder", "another-part", "repo-root"])
def test_backend_found_from_each_chapter_folder(start):
    assert chatbot.backend_path(ROOT / start) == BACKEND


def test_load_registers_the_module_under_its_name(monkeypatch):
    monkeypatch.delitem(sys.modules, chatbot.MODULE_NAME, raising=False)
    module = chatbot.load_backend(ROOT / "partie-11")
    assert module.__file__ == str(BACKEND) and sys.modules[chatbot.MODULE_NAME] is module
    assert callable(module.build_app)


def test_missing_backend_says_why_in_french(tmp_path):
    (tmp_path / "day-02").mkdir()  # the student edition: the folder is there, the backend is not
    with pytest.raises(FileNotFoundError, match=r"édition étudiante.*labs/day-02-chatbot"):
        chatbot.load_backend(tmp_path / "partie-11")
