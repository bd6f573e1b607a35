import os
import socket
import subprocess
import sys

import nbformat
import pytest


def test_a_notebook_that_downloads_fails_under_the_guard(root, tmp_path):
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "import urllib.request\nurllib.request.urlopen('https://huggingface.co/api/models', timeout=5)"
            )
        ]
    )
    path = tmp_path / "download.ipynb"
    nbformat.write(nb, path)
    env = {**os.environ, "COURSE_BLOCK_NETWORK": "1", "PYTHONPATH": str(root / "tests" / "netguard")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            str(path),
            "--output",
            str(tmp_path / "out.ipynb"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "Accès réseau interdit" in done.stderr


@pytest.mark.skipif(os.environ.get("COURSE_BLOCK_NETWORK") != "1", reason="seulement sous `course test`")
def test_course_test_is_offline():
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["COURSE_PROFILE"] == "ci"
    with pytest.raises(ConnectionRefusedError, match="interdit"):
        socket.create_connection(("pypi.org", 443), timeout=2)
    with pytest.raises(ConnectionRefusedError, match="interdit"):
        socket.socket().connect(("1.1.1.1", 53))
