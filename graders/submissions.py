"""Submissions as students hand them in: which notebook is theirs, who they
are, and which graded cells they deleted or altered (nbgrader restores those
from the gradebook, so the grade is computed on the instructor's tests).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from graders.labs import HIDDEN_MARKERS, GradingError, graded_cells, is_test_cell, split_regions

_COPY_PREFIXES = re.compile(r"^(copy of|copie de|copia de|kopie von)\s+", re.IGNORECASE)
_COPY_SUFFIXES = re.compile(r"(\s*\(\d+\)|[-_ ]?copy\d*|[-_ ]?copie\d*|-checkpoint)$", re.IGNORECASE)


def normalise_stem(name: str) -> str:
    """``'Copy of entropie (1).ipynb'`` -> ``'entropie'``."""
    stem = Path(name).stem.strip()
    stem = _COPY_PREFIXES.sub("", stem)
    previous = None
    while previous != stem:
        previous, stem = stem, _COPY_SUFFIXES.sub("", stem).strip()
    return stem.lower()


def student_id(name: str) -> str:
    """A safe nbgrader student id from a folder name (accents and spaces removed)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ident = re.sub(r"[^a-z0-9_-]+", "_", ascii_name.lower()).strip("_")
    if not ident:
        raise GradingError(f"Impossible de tirer un identifiant d'étudiant de {name!r}.")
    return ident


def find_submission(folder: Path, notebook_name: str) -> tuple[Path | None, list[str]]:
    """Pick the student's notebook for this lab in their folder."""
    candidates = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    wanted = normalise_stem(notebook_name)
    matching = [p for p in candidates if normalise_stem(p.name) == wanted]
    if matching:
        chosen = matching[0]
    elif len(candidates) == 1:
        chosen = candidates[0]
    else:
        return None, [f"aucun notebook « {notebook_name} » dans la copie ({len(candidates)} fichier(s) .ipynb)"]
    flags = (
        []
        if chosen.name == notebook_name
        else [f"fichier renommé : « {chosen.name} » traité comme « {notebook_name} »"]
    )
    return chosen, flags


def integrity_flags(submitted, released) -> list[str]:
    """Graded cells deleted or altered by the student (compared to the release)."""
    flags = []
    theirs = graded_cells(submitted)
    for grade_id, cell in graded_cells(released).items():
        mine = theirs.get(grade_id)
        meta = cell.metadata["nbgrader"]
        if mine is None:
            kind = "de test" if is_test_cell(cell) else "de réponse" if meta.get("solution") else "verrouillée"
            flags.append(f"cellule {kind} supprimée : {grade_id}")
        elif (is_test_cell(cell) or (meta.get("locked") and not meta.get("solution"))) and _without_hidden_tests(
            mine.source
        ) != cell.source.strip():
            flags.append(f"cellule verrouillée modifiée : {grade_id}")
    return flags


def _without_hidden_tests(source: str) -> str:
    """The cell as released: the instructor's own notebook is not 'altered'."""
    return "\n".join(split_regions(source, HIDDEN_MARKERS)[0]).strip()
