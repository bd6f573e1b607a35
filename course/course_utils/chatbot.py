"""The day-02 chatbot backend as a module, for the chapters that reuse it (day-02/03, partie-11/01 and 02).

``day-02/chatbot_backend.py`` is a script beside its notebooks (``python day-02/chatbot_backend.py``), not part of
this package. It is also the capstone lab's solution, so the student edition withholds it
(:func:`graders.student_edition.support_files`): there, :func:`load_backend` says so in French instead of failing
on a missing path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

MODULE_NAME = "chatbot_backend"
FILE_NAME = f"{MODULE_NAME}.py"
CAPSTONE_LAB = "day-02-chatbot"


def backend_path(start: Path | None = None) -> Path | None:
    """``chatbot_backend.py`` seen from ``start`` (default: the working directory): the folder itself, a sibling
    ``day-02`` (a notebook of another part) or a child ``day-02`` (the repository root); None when absent."""
    start = Path.cwd() if start is None else Path(start)
    for folder in (start, start.parent / "day-02", start / "day-02"):
        if (folder / FILE_NAME).is_file():
            return (folder / FILE_NAME).resolve()
    return None


def load_backend(start: Path | None = None) -> ModuleType:
    """Import the backend as ``chatbot_backend`` (registered in ``sys.modules``, as its dataclasses need)."""
    path = backend_path(start)
    if path is None:
        raise FileNotFoundError(
            f"day-02/{FILE_NAME} introuvable depuis {Path.cwd() if start is None else start}. Dans l'édition "
            f"étudiante, ce fichier n'est pas publié : c'est la solution du lab de synthèse (labs/{CAPSTONE_LAB}), "
            "et ce chapitre s'exécute depuis le dépôt de l'enseignant, une fois le lab rendu. Ailleurs (Colab "
            "compris), lancez le notebook depuis un clone du dépôt du cours."
        )
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module
    spec.loader.exec_module(module)
    return module
