"""The IPython kernel of the course's tests and grader: ipykernel, quick to exit.

A kernel that imported torch and transformers spends 1.5 to 2 s of CPU at exit
freeing its thousands of modules one by one, and the notebook runners (nbmake,
nbgrader) wait for it before the next notebook. Here every ``atexit`` handler
still runs (ipykernel's, IPython's, the libraries' and the notebook's: this one is
registered first, so it runs last), then the process ends at once.

Run as ``python -m course_utils.fast_exit_kernel -f {connection_file}``, like
``ipykernel_launcher``; :func:`write_kernelspec` writes its kernelspec.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from pathlib import Path

KERNEL_NAME = "course-python"


def _exit_now() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(0)


def write_kernelspec(jupyter_path: Path) -> Path:
    """The ``course-python`` kernelspec under ``jupyter_path`` (put it on JUPYTER_PATH)."""
    folder = jupyter_path / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", __name__, "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "Python 3 (cours)", "language": "python", "interrupt_mode": "signal"}
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return folder


def main() -> None:
    atexit.register(_exit_now)
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
