"""Wall-clock timing of small benchmarks in the notebooks.

Each timed call is bracketed by a CUDA synchronisation when relevant (GPU work is
asynchronous: without it, the clock measures the launch, not the computation), the
warm-up calls are not timed, and the result is a robust summary of the timed calls
(the median, or the best one). Never compare these numbers to a fixed threshold: they
depend on the machine and its load.

Light imports only: torch is never imported here; it is used when the caller already has.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any


def synchronize(device: Any = None) -> None:
    """Wait for the queued CUDA work of ``device`` ("cuda", "cuda:1", a torch.device).

    With ``device=None``, synchronise when torch has already initialised CUDA; a CPU device,
    or a process without torch or CUDA, does nothing.
    """
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return
    if device is None:
        if torch.cuda.is_initialized():
            torch.cuda.synchronize()
    elif torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(fn: Callable[[], Any], repeat: int = 5, warmup: int = 0, device: Any = None) -> tuple[list[float], Any]:
    """Call ``fn()`` ``warmup`` times untimed, then ``repeat`` times timed.

    Returns the duration of each timed call in seconds, and the result of the last call.
    """
    if repeat < 1 or warmup < 0:
        raise ValueError(f"Il faut repeat >= 1 et warmup >= 0, reçu repeat={repeat}, warmup={warmup}.")
    for _ in range(warmup):
        fn()
    times, result = [], None
    for _ in range(repeat):
        synchronize(device)
        start = time.perf_counter()
        result = fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return times, result


def median_seconds(fn: Callable[[], Any], repeat: int = 5, warmup: int = 2, device: Any = None) -> float:
    """Median duration (seconds) of ``repeat`` timed calls of ``fn()``, after ``warmup`` untimed ones."""
    return float(statistics.median(time_calls(fn, repeat, warmup, device)[0]))


def best_seconds(fn: Callable[[], Any], repeat: int = 3, warmup: int = 0, device: Any = None) -> float:
    """Shortest duration (seconds) of ``repeat`` timed calls of ``fn()``: the run least disturbed by other programs."""
    return min(time_calls(fn, repeat, warmup, device)[0])
