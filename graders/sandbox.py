"""A sandbox for the code of a submission: the grader's kernel launcher.

nbgrader keeps doing what it does (restoring locked cells, executing, scoring,
feedback); only the kernel that runs student code is started differently. The
kernelspec ``course-sandbox`` (written into each grading course directory by
:func:`write_kernelspec`) starts ``python -m graders.sandbox KERNEL...``:

1. the launcher (root) asks to be killed with nbgrader (``PR_SET_PDEATHSIG``)
   and ``exec``s ``unshare`` into new mount, network and PID namespaces;
2. there, an init process (root, PID 1 of the namespace) hides behind empty
   tmpfs mounts the repository, the grading directories, ``/tmp``, ``/root``,
   ``/home`` and ``/dev/shm``, binds back read-only what Python needs (the
   environment, the interpreter, the course package), and read-write only the
   submission's own folder (the kernel's working directory) and its
   connection folder; the network namespace has a loopback and nothing else;
3. the kernel runs as an unprivileged user of its own (``setpriv``, a uid per
   grading process) with a process-count limit (``prlimit``); the memory limit
   and nbgrader's per-cell timeout are inherited. When the kernel ends, init
   ends, and the kernel of Linux kills every process left in the namespace.

The kernel talks to nbgrader through Unix sockets (ZMQ's ``ipc`` transport),
since a network namespace has no route to the grader.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

KERNEL_NAME = "course-sandbox"
NPROC_LIMIT = 256
UID_BASE = 60000  # unprivileged uids with no account: one per grading process
HIDDEN = ("/tmp", "/var/tmp", "/root", "/home", "/dev/shm", "/run/user")
TOOLS = ("unshare", "setpriv", "prlimit", "mount")
PR_SET_PDEATHSIG = 1


class SandboxUnavailable(RuntimeError):
    """This machine cannot enforce the sandbox (the message says what is missing)."""


def check_available() -> None:
    """Raise :class:`SandboxUnavailable` unless namespaces, mounts and uid changes work here."""
    if os.geteuid() != 0:
        raise SandboxUnavailable("le bac à sable demande les droits root (espaces de noms, montages, changement d'uid)")
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise SandboxUnavailable(f"outils absents : {', '.join(missing)} (paquet util-linux)")
    probe = subprocess.run(
        ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        raise SandboxUnavailable(f"unshare refuse les espaces de noms : {probe.stderr.strip()}")


def write_kernelspec(jupyter_path: Path, hidden: list[Path], kept: list[Path], shared: list[Path] = ()) -> Path:
    """A ``course-sandbox`` kernelspec under ``jupyter_path`` (put it on JUPYTER_PATH).

    ``hidden``: folders the kernel must not see; ``kept``: folders it may read;
    ``shared``: caches whose entries it may read and to which it may add entries
    of its own, in a private layer that disappears with it (the course's models).
    """
    from course_utils import fast_exit_kernel

    folder = jupyter_path / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "graders.sandbox"]
    argv += [f"--hide={p}" for p in hidden] + [f"--keep={p}" for p in kept] + [f"--share={p}" for p in shared]
    argv += ["--", sys.executable, "-m", fast_exit_kernel.__name__, "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "Python 3 (bac à sable du correcteur)", "language": "python"}
    spec["interrupt_mode"] = "signal"
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return folder


def default_kept() -> list[Path]:
    """What the kernel must read: the environment, the interpreter, the course package."""
    import course_utils

    return [Path(sys.prefix), Path(sys.base_prefix), Path(course_utils.__file__).resolve().parent]


def _connection_file(kernel: list[str]) -> Path:
    return Path(kernel[kernel.index("-f") + 1]).resolve()


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _bind_back(paths: list[Path], holder: Path, readonly: bool) -> None:
    """Bind ``paths`` (saved under ``holder`` before hiding) back at their own place."""
    for i, path in enumerate(paths):
        saved = holder / f"{'ro' if readonly else 'rw'}{i}"
        path.mkdir(parents=True, exist_ok=True)
        _mount("--bind", str(saved), str(path))
        if readonly:
            _mount("-o", "remount,bind,ro", str(path))


def _init(args: argparse.Namespace) -> int:
    """PID 1 of the namespaces (root): hide, bind back, start the kernel unprivileged, wait."""
    scratch, runtime = _checked_folders(args.kernel)
    uid = args.uid
    writable = [scratch, runtime]
    kept = [p for p in map(Path, args.keep) if p.exists()]
    _mount("--make-rprivate", "/")
    holder = Path("/run/course-sandbox")
    holder.mkdir(parents=True, exist_ok=True)
    _mount("-t", "tmpfs", "-o", "mode=700", "tmpfs", str(holder))
    for i, path in enumerate(kept):
        (holder / f"ro{i}").mkdir()
        _mount("--rbind", str(path), str(holder / f"ro{i}"))
    for i, path in enumerate(writable):
        (holder / f"rw{i}").mkdir()
        _mount("--bind", str(path), str(holder / f"rw{i}"))
    shared = [p for p in map(Path, args.share) if p.is_dir()]
    for i, path in enumerate(shared):
        (holder / f"sh{i}").mkdir()
        _mount("--bind", str(path), str(holder / f"sh{i}"))
    for path in sorted({Path(p) for p in [*HIDDEN, *args.hide]}, key=lambda p: len(p.parts)):
        if path.is_dir():
            mode = "1777" if str(path) in ("/tmp", "/var/tmp", "/dev/shm") else "755"
            _mount("-t", "tmpfs", "-o", f"mode={mode}", "tmpfs", str(path))
    _bind_back(kept, holder, readonly=True)
    _bind_back(writable, holder, readonly=False)
    for i, path in enumerate(shared):  # a private folder: the cache's entries read-only, new ones its own
        path.mkdir(parents=True, exist_ok=True)
        _mount("-t", "tmpfs", "-o", "mode=755", "tmpfs", str(path))
        os.chown(path, uid, uid)
        for entry in (holder / f"sh{i}").iterdir():
            target = path / entry.name
            target.mkdir() if entry.is_dir() else target.touch()
            _mount("--bind", str(entry), str(target))
            _mount("-o", "remount,bind,ro", str(target))
    if shutil.which("ip"):  # loopback up for local collectives (gloo); without iproute2 it stays down
        subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True)
    env = {
        **os.environ,
        "HOME": str(scratch),
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "TMPDIR": "/tmp",
        "JUPYTER_RUNTIME_DIR": str(runtime),
    }
    # The grader is not visible from this PID namespace: the kernel must not poll for it
    # (the PDEATHSIG chain stops the sandbox when the grader dies).
    env.pop("JPY_PARENT_PID", None)
    if "IPYTHONDIR" in env:  # IPython wants its folder writable: a private copy in this /tmp
        private = Path("/tmp/ipython")
        shutil.copytree(env["IPYTHONDIR"], private)
        for path in [private, *private.rglob("*")]:
            os.chown(path, uid, uid, follow_symlinks=False)
        env["IPYTHONDIR"] = str(private)
    command = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs"]
    command += ["prlimit", f"--nproc={NPROC_LIMIT}", "--core=0", "--", *args.kernel]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts go to the kernel (same process group)
    kernel = subprocess.Popen(command, cwd=scratch, env=env)
    signal.signal(signal.SIGTERM, lambda *_: kernel.kill())
    return kernel.wait()


def _checked_folders(kernel: list[str]) -> tuple[Path, Path]:
    """The submission's folder and the connection folder, as the grader announced them.

    The launcher hands these two folders to the kernel's user: it refuses to
    start anywhere else (a kernelspec started by another tool, a wrong cwd).
    """
    scratch, runtime = Path.cwd().resolve(), _connection_file(kernel).parent
    scratch_root = Path(os.environ.get("COURSE_SANDBOX_SCRATCH_ROOT", "/nonexistent")).resolve()
    announced = Path(os.environ.get("COURSE_SANDBOX_RUNTIME", "/nonexistent")).resolve()
    if scratch_root not in scratch.parents or runtime != announced:
        raise SystemExit(
            f"graders.sandbox : dossier de travail {scratch} ou de connexion {runtime} non annoncé par le correcteur"
        )
    return scratch, runtime


def _launch(args: argparse.Namespace) -> None:
    """Outer launcher (what jupyter_client starts): die with the grader, enter the namespaces."""
    folders = _checked_folders(args.kernel)
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    uid = UID_BASE + os.getpid() % 5000
    for folder in folders:  # the only places the kernel may write
        os.chown(folder, uid, uid)
        for path in folder.iterdir():
            if path.is_file() and not path.is_symlink():
                os.chown(path, uid, uid)
    inner = [sys.executable, "-m", "graders.sandbox", "--init", f"--uid={uid}"]
    inner += [f"--hide={p}" for p in args.hide] + [f"--keep={p}" for p in args.keep]
    inner += [f"--share={p}" for p in args.share] + ["--", *args.kernel]
    os.execvp("unshare", ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc", *inner])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graders.sandbox", description=__doc__)
    parser.add_argument("--hide", action="append", default=[], help="folder to hide from the kernel")
    parser.add_argument("--keep", action="append", default=[], help="folder the kernel may read")
    parser.add_argument("--share", action="append", default=[], help="cache the kernel may read and add to, privately")
    parser.add_argument("--init", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--uid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("kernel", nargs=argparse.REMAINDER, help="-- then the kernel's command line")
    args = parser.parse_args(argv)
    args.kernel = args.kernel[1:] if args.kernel[:1] == ["--"] else args.kernel
    if args.init:
        return _init(args)
    _launch(args)
    return 1  # not reached: exec


if __name__ == "__main__":
    sys.exit(main())
