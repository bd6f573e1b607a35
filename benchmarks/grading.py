"""Benchmark of the grading pipeline (not a test): release time per lab and
autograde time per submission, with the notebook's own execution time as the
baseline measured in the same run (nbgrader's overhead = ratio to it).

    .venv/bin/python benchmarks/grading.py [--copies 4] [--lab partie-02-entropie]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from graders.autograde import autograde
from graders.labs import lab_notebook
from graders.release import release


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default="partie-02-entropie")
    parser.add_argument("--copies", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("COURSE_PROFILE", "ci")
    source = lab_notebook(args.lab)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        released = release([args.lab], tmp / "release")[args.lab]
        release_s = time.perf_counter() - start

        start = time.perf_counter()  # baseline: the notebook alone, no nbgrader
        subprocess.run(
            [
                sys.executable,
                "-m",
                "jupyter",
                "nbconvert",
                "--to",
                "notebook",
                "--execute",
                str(source),
                "--output",
                str(tmp / "baseline.ipynb"),
            ],
            check=True,
            capture_output=True,
        )
        baseline_s = time.perf_counter() - start

        solution = nbformat.read(source, as_version=4)
        for i in range(args.copies):
            target = tmp / "copies" / f"student{i:02d}" / released.name
            target.parent.mkdir(parents=True)
            nbformat.write(solution, target)
        start = time.perf_counter()
        results = autograde(args.lab, tmp / "copies", tmp / "out")
        grade_s = time.perf_counter() - start
    assert all(r.score == r.max_score for r in results)
    per_copy = grade_s / args.copies
    print(f"lab {args.lab}, {args.copies} copies, machine: {os.cpu_count()} cœurs")
    print(f"release            : {release_s:6.1f} s")
    print(f"notebook seul      : {baseline_s:6.1f} s (nbconvert --execute, référence)")
    print(
        f"autograde + retour : {per_copy:6.1f} s par copie ({grade_s:.1f} s au total, "
        f"{per_copy / baseline_s:.2f}x la référence)"
    )


if __name__ == "__main__":
    main()
