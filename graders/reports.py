"""What the instructor reads: one result per student (score, status, flags for
a manual look, notes), the flags drawn from the autograded notebooks, and the
class reports (``grades.csv``, ``report.json``).
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from graders.labs import is_test_cell
from graders.preprocessors import STDERR_MARK


@dataclass
class Result:
    student: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = "graded"  # graded | flagged | failed
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the instructor; do not change the status
    feedback: str = ""


def execution_flags(autograded: Path, log: str) -> list[str]:
    """Timeouts and dead kernels, from the autograded notebook and nbgrader's log."""
    text = log + (autograded.read_text(encoding="utf-8") if autograded.exists() else "")
    flags = []
    if "CellTimeoutError" in text:
        flags.append("délai dépassé dans une cellule (boucle infinie ?)")
    if "DeadKernelError" in text or "Kernel died" in text:
        flags.append("le noyau Python s'est arrêté (os._exit, plantage ou mémoire) : copie à vérifier à la main")
    return flags


# What the sandbox answers to a forbidden access, as the kernel reports it.
_BLOCKED = ("PermissionError", "Read-only file system", "Network is unreachable", "Resource temporarily unavailable")


def sandbox_flags(autograded: Path, hidden: list[Path]) -> list[str]:
    """Cells whose error shows an access the sandbox refused: for a manual look.

    A refused write, connection or process, or a file that was not found under
    a folder the sandbox hides (the course, the gradebook, other submissions).
    """
    if not autograded.exists():
        return []
    flags = []
    for cell in nbformat.read(autograded, as_version=4).cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            text = f"{output.get('ename', '')}: {output.get('evalue', '')}"
            looked_for_hidden = output.get("ename") == "FileNotFoundError" and any(str(h) in text for h in hidden)
            if looked_for_hidden or any(b in text for b in _BLOCKED):
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "?")
                flags.append(f"accès refusé par le bac à sable (cellule {grade_id}) : {text[:160]}")
    return flags


def guard_flags(autograded: Path) -> list[str]:
    """What the guard put back before the tests, or where it could not answer (graders.preprocessors)."""
    if not autograded.exists():
        return []
    findings = nbformat.read(autograded, as_version=4).metadata.get("course_guard", [])
    return [f"garde-fou : {finding} — à vérifier à la main" for finding in findings]


def stderr_notes(autograded: Path) -> list[str]:
    """Test cells that wrote to stderr (kept as stdout by StderrToStdout, not scored 0)."""
    if not autograded.exists():
        return []
    notes = []
    for cell in nbformat.read(autograded, as_version=4).cells:
        if not is_test_cell(cell):
            continue
        texts = [o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream"]
        if any(STDERR_MARK in text for text in texts):
            notes.append(f"sortie sur stderr dans la cellule de test {cell.metadata['nbgrader']['grade_id']}")
    return notes


def write_reports(lab_id: str, results: list[Result], lab_out: Path) -> None:
    lab_out.mkdir(parents=True, exist_ok=True)
    with open(lab_out / "grades.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["lab", "etudiant", "note", "note_max", "statut", "alertes"])
        for r in results:
            writer.writerow([lab_id, r.student, f"{r.score:g}", f"{r.max_score:g}", r.status, " | ".join(r.flags)])
    (lab_out / "report.json").write_text(
        json.dumps([asdict(r) for r in results], ensure_ascii=False, indent=2), encoding="utf-8"
    )
