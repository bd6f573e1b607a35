"""The pytest plugin of `course test`: slow items first, and a timing report."""

import json
import subprocess
import sys

from course_utils import test_report


def test_report_orders_slow_items_first_and_reports_times(tmp_path, monkeypatch):
    (tmp_path / "test_sample.py").write_text(
        "import time\nimport pytest\n\n"
        "def test_fast():\n    pass\n\n"
        "@pytest.mark.slow\ndef test_slow():\n    time.sleep(0.3)\n",
        encoding="utf-8",
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: slow\n", encoding="utf-8")
    report = tmp_path / "timing.json"
    code = (
        "import sys, pytest\nfrom pathlib import Path\nfrom course_utils import test_report\n"
        f"test_report.REPORT_FILE = Path({str(report)!r})\n"
        "sys.exit(pytest.main(['-v', '-p', 'no:cacheprovider', '-p', 'course_utils.test_report', '.']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "COURSE_INSTALL_SECONDS": "42"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.index("test_slow") < out.index("test_fast"), "les éléments lents d'abord"
    assert "Rapport de temps" in out and "installation : 42 s" in out
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["install_s"] == 42 and list(data["items"])[0].endswith("test_slow")
    assert data["items"]["test_sample.py::test_slow"] >= 0.3
    start, worker, seconds = data["timeline"]["test_sample.py::test_slow"]
    assert list(data["timeline"])[0].endswith("test_slow") and worker == "main" and start >= 0 and seconds >= 0.3
    assert test_report.SLOWEST == 15


def test_an_xdist_group_stays_on_one_worker(tmp_path):
    """With pytest 9, xdist's loadgroup needs the plugin's help (see _mark_xdist_groups)."""
    (tmp_path / "test_group.py").write_text(
        "import os\nimport time\nimport pytest\n\n"
        "@pytest.fixture(scope='session')\ndef batch():\n    return []\n\n"
        "@pytest.mark.xdist_group('g')\ndef test_a(batch):\n    batch.append(os.environ['PYTEST_XDIST_WORKER'])\n\n"
        "@pytest.mark.xdist_group('g')\ndef test_b(batch):\n    batch.append(os.environ['PYTEST_XDIST_WORKER'])\n"
        "    assert len(batch) == 2, 'the session fixture is shared: one worker ran the group'\n\n"
        "@pytest.mark.parametrize('i', range(4))\ndef test_other(i):\n    time.sleep(0.2)\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "course_utils.test_report"]
        + ["-n", "2", "--dist", "loadgroup", "-p", "no:randomly", "-q", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_server_s_users_are_one_group(syl):
    """Chapters, labs and tests that call the vLLM server share one worker (and one server start)."""
    from course_utils import syllabus

    class Item:
        def __init__(self, nodeid):
            self.nodeid, self.markers = nodeid, []

        def add_marker(self, marker):
            self.markers.append(marker)

        def iter_markers(self, name):
            return [m.mark for m in self.markers if m.name == name]

    served = next(n["path"] for m in syllabus.modules(syl) for n in m["notebooks"] if n.get("serve"))
    plain = next(n["path"] for m in syllabus.modules(syl) for n in m["notebooks"] if not n.get("serve"))
    lab = next(lab["id"] for lab in syllabus.labs(syl) if lab.get("serve"))
    items = [
        Item(f"{served}::{served.split('/')[-1]}"),
        Item(f"tests/test_grading.py::test_lab_release_and_grades[{lab}]"),
        Item(f"{plain}::{plain.split('/')[-1]}"),
    ]
    test_report._group_server_users(items)
    assert [test_report.uses_server(item) for item in items] == [True, True, False]
