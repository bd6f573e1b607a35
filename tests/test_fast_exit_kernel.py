"""The tests' and grader's kernel runs a notebook like ipykernel, and the notebook's atexit handlers still run."""

import json

import nbformat
from nbclient import NotebookClient

from course_utils import fast_exit_kernel


def test_the_kernel_runs_cells_and_every_atexit_handler(tmp_path, monkeypatch):
    folder = fast_exit_kernel.write_kernelspec(tmp_path / "jupyter")
    argv = json.loads((folder / "kernel.json").read_text())["argv"]
    assert argv[1:] == ["-m", "course_utils.fast_exit_kernel", "-f", "{connection_file}"]
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    marker = tmp_path / "atexit.txt"
    cell = nbformat.v4.new_code_cell(
        f"import atexit, pathlib, sys\n"
        f"atexit.register(lambda: pathlib.Path({str(marker)!r}).write_text('ran'))\n"
        f"print(sys.argv[0].endswith('fast_exit_kernel.py'), 6 * 7)"
    )
    notebook = nbformat.v4.new_notebook(cells=[cell])
    NotebookClient(notebook, kernel_name=fast_exit_kernel.KERNEL_NAME, timeout=60).execute()
    assert notebook.cells[0].outputs[0]["text"] == "True 42\n"
    assert marker.read_text() == "ran"  # registered after the kernel's own handler, so run before it
