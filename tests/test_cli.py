"""The `course` command as users call it."""

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import nbformat
import psutil
import pytest

import submissions as S
from graders import labs, release


def course(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "course_utils.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


@pytest.fixture(scope="module")
def student_notebook(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    return release.release([S.TINY_LAB], out, S.FIXTURE_LABS)[S.TINY_LAB]


@pytest.mark.slow
def test_validate_tells_the_student(student_notebook, tmp_path):
    done = course("validate", str(student_notebook))
    assert done.returncode == 1 and "échec" in done.stdout
    solution = tmp_path / student_notebook.name
    solution.write_text(labs.lab_notebook(S.TINY_LAB, S.FIXTURE_LABS).read_text(encoding="utf-8"), encoding="utf-8")
    done = course("validate", str(solution))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Tous les tests visibles passent" in done.stdout


def test_validate_missing_file():
    assert course("validate", "nulle/part.ipynb").returncode == 2


def _figures_notebook(path):
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("PROFILE = None", metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell(
                "import torch\nfrom course_utils import pick, record, seed_everything\n"
                "cfg = pick({'ci': {'n': 3}, 'cpu': {'n': 30}, 'gpu': {'n': 300}}, PROFILE)\n"
                "seed_everything(0)\nrecord('draw', torch.rand(1).item())\nrecord('n', cfg.n, 'pas')"
            ),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_run_collects_figures_and_is_deterministic(tmp_path):
    notebook = tmp_path / "figures.ipynb"
    _figures_notebook(notebook)
    runs = []
    for name, profile in [("a", "ci"), ("b", "ci"), ("c", "gpu")]:
        done = course("run", "--profile", profile, "--out", str(tmp_path / name), str(notebook))
        assert done.returncode == 0, done.stdout + done.stderr
        runs.append(json.loads((tmp_path / name / "figures.json").read_text(encoding="utf-8")))
    figures = [{f["name"]: f["value"] for f in r["notebooks"][0]["figures"]} for r in runs]
    assert figures[0] == figures[1], "deux exécutions identiques enregistrent les mêmes figures"
    assert figures[0]["n"] == 3 and figures[2]["n"] == 300, "le profil arrive au notebook"
    table = (tmp_path / "a" / "figures.md").read_text(encoding="utf-8")
    assert "| draw |" in table and "profil `ci`" in table
    assert (tmp_path / "a" / "figures.ipynb").exists()


def test_run_reports_a_failing_notebook(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise ValueError('cassé')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "broken.ipynb")
    done = course("run", "--out", str(tmp_path / "out"), str(tmp_path / "broken.ipynb"))
    assert done.returncode == 1
    summary = json.loads((tmp_path / "out" / "figures.json").read_text(encoding="utf-8"))
    assert summary["notebooks"][0]["status"] == "failed" and "cassé" in summary["notebooks"][0]["error"]


def test_unknown_lab_is_a_clear_error(tmp_path):
    done = course("autograde", "pas-un-lab", str(tmp_path))
    assert done.returncode == 2 and "Lab inconnu" in done.stderr


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_course_lab_serves_the_course_with_nbgrader(root):
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "course_utils.cli",
            "lab",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.token=",
            "--ServerApp.ip=127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        listing = json.load(urllib.request.urlopen(f"{base}/api/contents/partie-02", timeout=10))
        assert "04-theorie-information.ipynb" in {item["name"] for item in listing["content"]}
        assert urllib.request.urlopen(f"{base}/lab", timeout=10).status == 200
        # nbgrader's server extensions answer: formgrader (instructors) and the assignment list (students).
        assert urllib.request.urlopen(f"{base}/formgrader", timeout=30).status == 200
        courses = json.load(urllib.request.urlopen(f"{base}/assignments?course_id=cours-llm", timeout=30))
        assert courses["success"], courses
        # A supervisor stopping `course lab` stops JupyterLab: nothing is left running.
        family = [server.pid, *(p.pid for p in psutil.Process(server.pid).children(recursive=True))]
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        _, alive = psutil.wait_procs([p for p in map(_process, family) if p], timeout=30)
        assert not alive, f"processus restés en vie : {alive}"
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{base}/api/status", timeout=2)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=30)


def _process(pid):
    try:
        process = psutil.Process(pid)
        return None if process.status() == psutil.STATUS_ZOMBIE else process
    except psutil.NoSuchProcess:
        return None


def test_course_run_executes_notebooks_and_summarises_their_figures(root, tmp_path):
    from course_utils.runner import run_notebooks

    chapter = root / "partie-03" / "03-ngrammes.ipynb"
    summary = run_notebooks([chapter], "ci", tmp_path, root)
    (entry,) = summary["notebooks"]
    assert entry["status"] == "ok" and entry["figures"], entry["error"]
    assert (tmp_path / "partie-03" / "03-ngrammes.ipynb").is_file()
    text = (tmp_path / "figures.md").read_text()
    assert "Figures enregistrées (profil `ci`)" in text and entry["figures"][0]["name"] in text
