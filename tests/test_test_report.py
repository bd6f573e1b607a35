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
    assert test_report.SLOWEST == 15
