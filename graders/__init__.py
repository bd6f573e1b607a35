"""Releasing and grading the labs with nbgrader.

- ``labs``: the instructor's lab sources and their secret lines;
- ``release``: a lab's course directory, nbgrader's release, the leak check;
- ``submissions``: whose notebook is whose, and what a student altered;
- ``autograde``: a class graded in parallel, one course directory per copy;
- ``sandbox``: the kernel launcher that runs student code with few rights;
- ``kernels``: how nbgrader and its kernels are started (quiet, sandboxed);
- ``preprocessors``: the course's nbgrader preprocessors;
- ``reports``: results, flags for a manual look, grades.csv and report.json.
"""
