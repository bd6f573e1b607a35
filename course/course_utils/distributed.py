"""A launcher for ``torch.distributed`` on one machine, usable from a notebook.

:func:`run_distributed` forks ``world_size`` processes, calls
``fn(rank, world_size, port, *args)`` in each and returns their results by rank.
The workers inherit everything the notebook defined (``fork``), share a free
TCP port on 127.0.0.1 for the rendez-vous (the gloo backend runs on CPU), and
write their output (Python and C++) to log files, never to the notebook: a
graded nbgrader cell must not print on stderr. Any failure kills every worker
and raises in the notebook with the worker's traceback and log; a worker that
does not finish in ``timeout`` seconds is asked for its Python stack
(``faulthandler``) and killed.

A worker opens and closes its own process group. Before
``dist.destroy_process_group()``, it frees what holds the group (a
``DistributedDataParallel`` wrapper: ``del ddp_model``) and calls
``dist.barrier()``, so that no rank tears the group down while a peer still
uses it (gloo can otherwise hang, rarely); :func:`run_distributed` keeps each
worker alive until every rank has reported for the same reason.
"""

from __future__ import annotations

import ctypes
import faulthandler
import multiprocessing
import os
import pickle
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
import warnings
from multiprocessing.connection import wait as wait_ready

try:  # resolved at import, before any fork: a child must not call the dynamic loader
    _PRCTL = ctypes.CDLL(None).prctl
except (AttributeError, OSError):  # not Linux
    _PRCTL = None

_PR_SET_PDEATHSIG = 1
_PORT_ATTEMPTS = 3


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (chosen by the OS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker_entry(fn, rank, world_size, port, args, conn, parent_ends, log_path, parent_pid):
    """Body of one forked worker: quiet streams, run fn, send back its result or its traceback."""
    for end in parent_ends:  # the parent's ends of the pipes, inherited by fork: not ours to keep open
        end.close()
    # The worker's output (Python and C++) goes to a log file, never to the notebook.
    log = open(log_path, "w", buffering=1, encoding="utf-8")  # open until the process ends
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    faulthandler.register(signal.SIGUSR1, file=log, all_threads=True)  # lets the parent ask where a worker is stuck
    if _PRCTL is not None:  # Linux: die with the parent (the notebook's kernel), so that no worker is ever orphaned
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    torch = sys.modules.get("torch")  # imported by the parent already, if fn uses it (no import after fork)
    if torch is not None:
        torch.set_num_threads(1)  # one core per worker
    try:
        data = pickle.dumps(("ok", fn(rank, world_size, port, *args)))
    except BaseException:
        data = pickle.dumps(("error", traceback.format_exc()))
    conn.send_bytes(data)
    log.flush()
    # Stay alive until every rank has reported (the parent then closes the pipe): a peer that exits
    # too early can stall the shutdown of another rank's process group.
    conn.poll(60)


def _tail(logs: str, rank: int, n_chars: int = 3000) -> str:
    """The beginning and the end of a worker's log file."""
    try:
        with open(os.path.join(logs, f"rank{rank}.log"), encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except FileNotFoundError:
        return "(pas de journal : le processus n'a pas démarré)"
    return text if len(text) <= 2 * n_chars else f"{text[:n_chars]}\n[...]\n{text[-n_chars:]}"


def run_distributed(fn, world_size: int = 2, *args, timeout: float = 90.0) -> list:
    """Run ``fn(rank, world_size, port, *args)`` in ``world_size`` forked processes; return their results by rank.

    ``fn`` joins the process group itself (rendez-vous on ``127.0.0.1:port``).
    Its result travels back by ``pickle``. Any failure kills every worker and
    raises here: ``RuntimeError`` with the worker's traceback, or
    ``TimeoutError`` with the stacks of the workers still running after
    ``timeout`` seconds.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        raise RuntimeError(
            "Les processus sont lancés avec « fork » (Linux, macOS) : utilisez WSL ou Colab sous Windows."
        )
    for attempt in range(_PORT_ATTEMPTS):  # a port taken between free_port() and the bind: retry with another
        try:
            return _run_once(fn, world_size, args, timeout)
        except RuntimeError as exc:
            if "address already in use" not in str(exc).lower() or attempt == _PORT_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _run_once(fn, world_size: int, args: tuple, timeout: float) -> list:
    ctx = multiprocessing.get_context("fork")
    port, logs = free_port(), tempfile.mkdtemp(prefix="dist-")
    procs, conns, receivers, ok = [], {}, [], False
    try:
        for rank in range(world_size):
            receiver, sender = ctx.Pipe()
            receivers.append(receiver)
            log_path = os.path.join(logs, f"rank{rank}.log")
            proc = ctx.Process(
                target=_worker_entry,
                daemon=True,
                args=(fn, rank, world_size, port, args, sender, list(receivers), log_path, os.getpid()),
            )
            with warnings.catch_warnings():  # Python >= 3.12 warns about fork in a multi-threaded process
                warnings.simplefilter("ignore", DeprecationWarning)
                proc.start()
            sender.close()
            procs.append(proc)
            conns[receiver] = rank
        results, deadline = [None] * world_size, time.monotonic() + timeout
        while conns:
            ready = wait_ready(list(conns), timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                stuck = sorted(conns.values())
                for rank in stuck:  # ask the stuck workers for their Python stack before killing them
                    os.kill(procs[rank].pid, signal.SIGUSR1)
                time.sleep(1.0)  # time for faulthandler to write the stacks
                stacks = "\n".join(f"--- rang {rank} ---\n{_tail(logs, rank)}" for rank in stuck)
                raise TimeoutError(
                    f"Les processus {stuck} n'ont pas terminé en {timeout:g} s "
                    f"(blocage dans une collective ?). Où ils en étaient :\n{stacks}"
                )
            for conn in ready:
                rank = conns.pop(conn)
                try:
                    status, value = pickle.loads(conn.recv_bytes())
                except EOFError:
                    status, value = "error", f"arrêt brutal du processus, sans résultat.\n{_tail(logs, rank)}"
                if status == "error":
                    raise RuntimeError(
                        f"Le processus de rang {rank} a échoué : {value}\n--- journal du rang {rank} ---\n"
                        f"{_tail(logs, rank)}"
                    )
                results[rank] = value
        ok = True
        return results
    finally:
        for conn in receivers:  # releases the workers waiting in conn.poll()
            conn.close()
        for proc in procs:  # always reap the workers; after a failure, kill them at once
            proc.join(timeout=5.0 if ok else 0.0)
            if proc.is_alive():
                proc.kill()
                proc.join()
        shutil.rmtree(logs, ignore_errors=True)
