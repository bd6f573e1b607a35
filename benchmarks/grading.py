"""Benchmark of the grading pipeline (not a test): release time per lab and
autograde throughput at 1 job and at N jobs, with the notebook's own execution
time as the baseline measured in the same run (the grader's overhead = ratio to it).

    .venv/bin/python benchmarks/grading.py [--copies 4] [--jobs 2] [--lab partie-02-entropie]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from graders.autograde import autograde
from graders.labs import lab_notebook
from graders.release import prepare_course, release


def _execute_alone(source: Path, output: Path) -> float:
    """The baseline: the notebook executed by nbconvert, no nbgrader, no sandbox."""
    start = time.perf_counter()
    command = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute", str(source)]
    subprocess.run([*command, "--output", str(output)], check=True, capture_output=True)
    return time.perf_counter() - start


def _execute_in_process(source: Path) -> float:
    """A stricter baseline: kernel start and cells only (nbclient already imported)."""
    import nbclient

    nb = nbformat.read(source, as_version=4)
    start = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=600).execute()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default="partie-02-entropie")
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="the parallel run (the other has 1 job)")
    args = parser.parse_args()
    os.environ.setdefault("COURSE_PROFILE", "ci")
    source = lab_notebook(args.lab)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        released = release([args.lab], tmp / "release")[args.lab]
        release_s = time.perf_counter() - start
        solution = nbformat.read(source, as_version=4)
        for i in range(args.copies):
            target = tmp / "copies" / f"student{i:02d}" / released.name
            target.parent.mkdir(parents=True)
            nbformat.write(solution, target)
        # Baseline measured before and after the grading runs (the machine's load drifts).
        baseline = [_execute_alone(source, tmp / "baseline.ipynb")]
        strict = [_execute_in_process(source)]
        per_jobs = {}
        for jobs in sorted({1, args.jobs}):
            prepared = prepare_course(args.lab, tmp / f"course-{jobs}" / "nbgrader")
            start = time.perf_counter()
            results = autograde(args.lab, tmp / "copies", tmp / f"out-{jobs}", prepared=prepared, jobs=jobs)
            per_jobs[jobs] = time.perf_counter() - start
            assert all(r.score == r.max_score and r.status == "graded" for r in results), results
        baseline.append(_execute_alone(source, tmp / "baseline.ipynb"))
        strict.append(_execute_in_process(source))
    baseline_s, strict_s = statistics.mean(baseline), statistics.mean(strict)
    print(f"lab {args.lab}, {args.copies} copies, machine : {os.cpu_count()} cœurs")
    print(f"release              : {release_s:6.1f} s")
    print(
        f"notebook seul        : {baseline_s:6.1f} s (nbconvert --execute, référence ; {baseline[0]:.1f} puis {baseline[1]:.1f})"
    )
    print(f"noyau et cellules    : {strict_s:6.1f} s (nbclient dans ce processus, référence stricte)")
    for jobs, total in per_jobs.items():
        per_copy = total / args.copies
        print(
            f"autograde --jobs {jobs:<3} : {per_copy:6.1f} s par copie, {60 * args.copies / total:5.1f} copies/min "
            f"({total:.1f} s au total, bac à sable et retours compris ; {per_copy / baseline_s:.2f}x la référence, "
            f"{per_copy / strict_s:.2f}x la stricte)"
        )


if __name__ == "__main__":
    main()
