"""Releasing a lab: a fresh nbgrader course directory, nbgrader's
``generate_assignment``, and a check that nothing secret reached the students.

Everything nbgrader writes (gradebook, release, and later submitted,
autograded, feedback) lives in a working course directory under ``--out``,
never in ``labs/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from graders.kernels import run_nbgrader, write_quiet_ipython_dir
from graders.labs import HIDDEN_MARKERS, LABS_DIR, SOLUTION_MARKERS, GradingError, lab_ids, lab_notebook, secret_lines

CONFIG_FILE = Path(__file__).resolve().parent / "nbgrader_config.py"


def prepare_course(lab_id: str, root: Path, labs_dir: Path = LABS_DIR) -> Path:
    """Create a fresh nbgrader course directory for one lab and generate it.

    Returns the released student notebook. A fresh directory per run means
    ``generate_assignment`` never meets earlier submissions in the gradebook.
    """
    source_nb = lab_notebook(lab_id, labs_dir)
    if root.exists():
        shutil.rmtree(root)
    (root / "source").mkdir(parents=True)
    shutil.copy(CONFIG_FILE, root / "nbgrader_config.py")
    write_quiet_ipython_dir(root / ".ipython", guard=True)
    shutil.copytree(
        source_nb.parent, root / "source" / lab_id, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    )
    done = run_nbgrader(root, "generate_assignment", lab_id, "--force", "--create")
    released = root / "release" / lab_id / source_nb.name
    if done.returncode != 0 or not released.exists():
        raise GradingError(f"nbgrader generate_assignment a échoué pour {lab_id} :\n{done.stdout}\n{done.stderr}")
    check_release(released, source_nb)
    return released


def check_release(released: Path, source: Path) -> None:
    """Fail if a released notebook still shows a solution or a hidden test."""
    text = released.read_text(encoding="utf-8")
    for marker in SOLUTION_MARKERS + HIDDEN_MARKERS:
        if marker in text:
            raise GradingError(f"{released} contient encore le marqueur {marker!r}.")
    released_nb = nbformat.read(released, as_version=4)
    released_lines = {line.strip() for c in released_nb.cells for line in c.source.splitlines()}
    for secret in secret_lines(nbformat.read(source, as_version=4)):
        if secret in released_lines:
            raise GradingError(f"{released} divulgue une ligne de solution ou de test caché : {secret!r}.")


def release(labs: list[str] | None, out: Path, labs_dir: Path = LABS_DIR) -> dict[str, Path]:
    """Write the student version of each lab to ``out/<lab_id>/``."""
    released = {}
    for lab_id in labs or lab_ids(labs_dir):
        notebook = prepare_course(lab_id, out / ".nbgrader" / lab_id, labs_dir)
        target = out / lab_id
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(notebook.parent, target)
        released[lab_id] = target / notebook.name
    return released
