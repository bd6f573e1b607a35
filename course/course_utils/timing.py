"""Wall-clock timing of small benchmarks in the notebooks.

Each timed call is bracketed by a CUDA synchronisation when relevant (GPU work is
asynchronous: without it, the clock measures the launch, not the computation), the
warm-up calls are not timed, and the result is a robust summary of the timed calls
(the median, or the best one). Never compare a duration to a fixed threshold: it depends
on the machine and its load. A graded speed-up compares two runs of the same process,
interleaved round after round (``interleaved_ratios``, ``median_speedup``), by the median
of the per-round ratios, against a threshold stated with its margin.

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


def interleaved_ratios(baseline: Callable[[], float], candidate: Callable[[], float], rounds: int = 5) -> list[float]:
    """Speed-up of ``candidate`` over ``baseline`` in each of ``rounds`` rounds, runs interleaved.

    A round runs both once, back to back, and the order alternates from one round to the next (A B, B A, A B…):
    a slow spell of a shared machine hits both runs of a round, and neither side always runs first (warm caches,
    frequency boost). Each callable runs its workload once and returns its cost, lower is better: seconds (see
    ``seconds``), or seconds per unit of work (per token, per example) when the two runs do different amounts of
    work. The ratio of a round is ``baseline cost / candidate cost`` (above 1: the candidate is faster). Summarise the
    rounds by their median (``statistics.median``), and grade against a threshold set with a stated margin below what
    an honest solution reaches on the grading machine.
    """
    if rounds < 1:
        raise ValueError(f"Il faut rounds >= 1, reçu {rounds}.")
    ratios = []
    for index in range(rounds):
        if index % 2 == 0:
            base_cost = baseline()
            cand_cost = candidate()
        else:
            cand_cost = candidate()
            base_cost = baseline()
        if not (base_cost > 0 and cand_cost > 0):
            raise ValueError(f"Les coûts mesurés doivent être strictement positifs, reçu {base_cost} et {cand_cost}.")
        ratios.append(base_cost / cand_cost)
    return ratios


def seconds(fn: Callable[[], Any], device: Any = None) -> Callable[[], float]:
    """A callable that runs ``fn()`` once and returns its wall-clock duration in seconds (CUDA synchronised)."""

    def timed() -> float:
        return time_calls(fn, repeat=1, warmup=0, device=device)[0][0]

    return timed


def median_speedup(
    baseline: Callable[[], Any], candidate: Callable[[], Any], rounds: int = 5, warmup: int = 0, device: Any = None
) -> tuple[float, list[float]]:
    """Median speed-up (``baseline`` time / ``candidate`` time) over interleaved rounds, and the per-round ratios.

    ``warmup`` untimed calls of each function come first (compilation, caches).
    """
    if warmup < 0:
        raise ValueError(f"Il faut warmup >= 0, reçu {warmup}.")
    for _ in range(warmup):
        baseline()
        candidate()
    ratios = interleaved_ratios(seconds(baseline, device), seconds(candidate, device), rounds)
    return float(statistics.median(ratios)), ratios
