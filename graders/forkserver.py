"""nbgrader commands forked from a process that imported nbgrader once.

Importing nbgrader costs seconds of CPU, more than grading a small notebook.
The grader starts this server once (``python -m graders.forkserver SOCKET``);
for each command it connects, sends the command, and the server forks a child
that runs it: each command is still a process of its own (its environment,
memory limit and log; killed on timeout with its kernel), without the import.
Children are not forked from the grader itself, whose threads could hold locks.

Protocol, one connection per command: the grader sends one JSON line
``{"argv", "env", "cwd", "memory_mb", "log"}``; the child answers ``pid N``,
runs nbgrader, then answers ``rc N``.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path


def _run_child(connection: socket.socket) -> None:
    request = json.loads(connection.makefile("r", encoding="utf-8").readline())
    connection.sendall(f"pid {os.getpid()}\n".encode())
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    if request["memory_mb"]:  # the kernel inherits it
        limit = request["memory_mb"] * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.argv = ["nbgrader", *request["argv"]]
    code = 1
    try:
        from nbgrader.apps.nbgraderapp import NbGraderApp

        NbGraderApp.launch_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        connection.sendall(f"rc {code}\n".encode())
        os._exit(code)


def alembic_head() -> str:
    """The gradebook schema version of the installed nbgrader, read with alembic's API.

    nbgrader's ``api.get_alembic_version`` gets it from the ``alembic heads``
    command each time it creates a gradebook: a new Python process importing
    alembic and SQLAlchemy, seconds per lab on 2 busy cores, for a constant.
    """
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    config = Config()
    config.set_main_option("script_location", ALEMBIC_DIR)
    (head,) = ScriptDirectory.from_config(config).get_heads()
    return head


def serve(path: str) -> None:
    import nbgrader.api
    import nbgrader.apps.nbgraderapp  # noqa: F401 - the import the children share

    head = alembic_head()  # once: the children inherit it (tests/test_grading.py compares it with the command's)
    nbgrader.api.get_alembic_version = lambda: head

    # Dies with the grader: its stdin (a pipe from the grader) closes then. Raw reads
    # hold no lock that a forked child could inherit.
    threading.Thread(target=lambda: (os.read(0, 1), os._exit(0)), daemon=True).start()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(64)
    print("ready", flush=True)
    while True:
        connection, _ = server.accept()
        if os.fork() == 0:
            server.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # nbgrader waits for its kernel
            _run_child(connection)
        connection.close()


class Client:
    """Starts the server on first use; ``run`` is safe from several threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._server: subprocess.Popen | None = None
        self._path = ""

    def _ensure_server(self) -> str:
        with self._lock:
            if self._server is None or self._server.poll() is not None:
                self._path = str(Path(tempfile.mkdtemp(prefix="nbg-")) / "s")
                self._server = subprocess.Popen(
                    [sys.executable, "-m", "graders.forkserver", self._path],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, sys.path))},
                )
                if self._server.stdout.readline().strip() != "ready":
                    raise RuntimeError("le serveur nbgrader du correcteur n'a pas démarré")
            return self._path

    def run(self, argv: list[str], env: dict, cwd: Path, memory_mb: int | None, timeout: float | None):
        """``nbgrader ARGV`` in ``cwd``: a CompletedProcess with the log as stdout."""
        with tempfile.NamedTemporaryFile("r", prefix="nbgrader-", suffix=".log", encoding="utf-8") as log:
            request = {"argv": argv, "env": env, "cwd": str(cwd), "memory_mb": memory_mb, "log": log.name}
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.connect(self._ensure_server())
            with connection, connection.makefile("r", encoding="utf-8") as answers:
                connection.sendall((json.dumps(request) + "\n").encode())
                pid = int(answers.readline().split()[1])
                deadline = None if timeout is None else time.monotonic() + timeout
                connection.settimeout(timeout)
                try:
                    line = answers.readline()
                except TimeoutError:
                    line = ""
                if not line.startswith("rc "):  # timed out, or killed (memory)
                    try:
                        os.kill(pid, signal.SIGKILL)  # its kernel dies with it (sandbox: PR_SET_PDEATHSIG)
                    except ProcessLookupError:
                        pass
                    if deadline is not None and time.monotonic() >= deadline:
                        raise subprocess.TimeoutExpired(["nbgrader", *argv], timeout)
                    return subprocess.CompletedProcess(["nbgrader", *argv], -signal.SIGKILL, log.read(), "")
                return subprocess.CompletedProcess(["nbgrader", *argv], int(line.split()[1]), log.read(), "")


if __name__ == "__main__":
    serve(sys.argv[1])
