import subprocess
import sys


def test_ruff_is_clean(root):
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
