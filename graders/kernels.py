"""How the grader runs nbgrader and its kernels.

Kernels are quiet: libraries read ``GRADING_ENV`` at import, and an IPython
start-up file silences their loggers before any cell runs. Stderr left in a test
cell is kept as stdout by graders.preprocessors.StderrToStdout and reported,
never scored 0. With a runtime folder, the kernel runs in the sandbox
(graders/sandbox.py) and talks to nbgrader over Unix sockets.

Each nbgrader command is a process of its own (its limits, its log, killed on
timeout), forked from a server that imported nbgrader once (graders/forkserver.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from course_utils.quiet import QUIET_ENV, ipython_startup_file
from graders import forkserver, sandbox

GRADING_ENV = {**QUIET_ENV, "COURSE_PROFILE": "ci"}


_nbgrader = forkserver.Client()  # one server per grading process


def run_nbgrader(
    root: Path,
    *args: str,
    timeout: float | None = None,
    memory_mb: int | None = None,
    cell_timeout: int | None = None,
    runtime: Path | None = None,
    home: Path | None = None,
    threads: int | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run one nbgrader command in the course directory ``root``.

    With ``runtime``, its kernel runs in the sandbox. ``home``: the prepared
    course directory whose ``.ipython`` and ``.jupyter`` the kernel uses (default
    ``root``). ``threads``: the kernel's share of the cores when several grade at once.
    ``env``: more variables for nbgrader and its kernels.
    """
    home = home or root
    command = [*args, f"--CourseDirectory.root={root}"]
    if cell_timeout is not None:
        command.append(f"--Execute.timeout={cell_timeout}")
    env = {**os.environ, **GRADING_ENV, **(env or {}), "IPYTHONDIR": str(home / ".ipython")}
    # nbgrader runs the `alembic` script of its own environment.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if runtime is not None:
        # The sandbox's kernel has no network: it talks to nbgrader over Unix sockets
        # in a short private folder (a socket path has at most 107 characters).
        command += [
            f"--Execute.kernel_name={sandbox.KERNEL_NAME}",
            "--KernelManager.transport=ipc",
            f"--KernelManager.ip={runtime / 'k'}",
            f"--KernelManager.connection_file={runtime / 'kernel.json'}",
        ]
        env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(home / ".jupyter"), env.get("JUPYTER_PATH")]))
        env["JUPYTER_RUNTIME_DIR"] = str(runtime)
        # The only two folders the launcher hands to the kernel's user (it checks them).
        env["COURSE_SANDBOX_RUNTIME"] = str(runtime)
        env["COURSE_SANDBOX_SCRATCH_ROOT"] = str(root / "autograded")
    if threads is not None:
        env.update({name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    return _nbgrader.run(command, env, root, memory_mb, timeout)


def write_quiet_ipython_dir(folder: Path, guard: bool = False) -> Path:
    """An IPYTHONDIR whose kernels quiet library loggers before any cell runs.

    ``guard``: the grader's kernels also keep what hidden tests rely on
    (course_utils.grading_guard).
    """
    profile = folder / "profile_default"
    for sub in ("startup", "security", "log", "pid", "db"):  # read-only in the sandbox: made here
        (profile / sub).mkdir(parents=True, exist_ok=True)
    (profile / "startup" / "00-course-quiet.py").write_text(ipython_startup_file(guard), encoding="utf-8")
    (profile / "ipython_kernel_config.py").write_text("c.HistoryManager.enabled = False\n", encoding="utf-8")
    return folder
