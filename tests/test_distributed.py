"""The torch.distributed launcher: gloo on CPU, results by rank, clear failures, no orphan workers."""

import os
import time
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist

from course_utils.distributed import free_port, run_distributed


def _all_reduce_worker(rank, world_size, port, scale):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=timedelta(seconds=20))
    try:
        value = torch.tensor([float(rank + 1)]) * scale
        dist.all_reduce(value)
        print(f"rank {rank} says hello")  # goes to the worker's log, not to the parent
        dist.barrier()
        return dict(rank=dist.get_rank(), backend=dist.get_backend(), total=value.item(), pid=os.getpid())
    finally:
        dist.destroy_process_group()


def _failing_worker(rank, world_size, port):
    if rank == 1:
        print("about to fail: marker-in-the-log")
        raise ValueError("deliberate failure in rank 1")
    return rank


def _hanging_worker(rank, world_size, port, pid_dir):
    (pid_dir / f"{rank}.pid").write_text(str(os.getpid()))
    if rank == 0:
        return "done"
    time.sleep(60)


def test_free_port_is_bindable():
    port = free_port()
    assert 1 <= port <= 65535


def test_all_reduce_on_two_gloo_processes(capfd):
    results = run_distributed(_all_reduce_worker, 2, 10.0, timeout=30)
    assert [r["rank"] for r in results] == [0, 1]
    assert all(r["backend"] == "gloo" and r["total"] == 30.0 for r in results)
    assert len({r["pid"] for r in results} | {os.getpid()}) == 3, "one process per rank, not the caller's"
    out, err = capfd.readouterr()
    assert "says hello" not in out + err, "the workers' output stays in their logs"


def test_failing_worker_raises_with_traceback_and_log():
    with pytest.raises(RuntimeError) as info:
        run_distributed(_failing_worker, 2, timeout=30)
    message = str(info.value)
    assert "rang 1" in message
    assert "deliberate failure in rank 1" in message and "Traceback" in message
    assert "marker-in-the-log" in message, "the error shows the worker's log"


def test_hanging_worker_is_killed_at_the_timeout(tmp_path):
    started = time.monotonic()
    with pytest.raises(TimeoutError) as info:
        run_distributed(_hanging_worker, 2, tmp_path, timeout=1.0)
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"the timeout was not enforced ({elapsed:.1f} s)"
    message = str(info.value)
    assert "[1]" in message and "_hanging_worker" in message, "the stuck rank and its Python stack are shown"
    for rank in (0, 1):
        pid = int((tmp_path / f"{rank}.pid").read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # killed and reaped: no orphan left behind
