"""The student edition: what students receive, and nothing else.

``build(out)`` writes into ``out``:

- the chapters: README and notebooks of every day and part of the syllabus,
  byte for byte as in this repository;
- the course package and what installs and runs it (``course/``, ``graders/``,
  ``bin/course``, ``pyproject.toml``, ``requirements.lock``, ``environment.yml``,
  ``nbgrader_config.py``, ``.gitignore``): ``course validate`` and the nbgrader
  extensions need ``graders/``, which holds code and configuration, no secret;
- the labs as the grader releases them (graders.release: no solution, no
  hidden test) in ``labs/``, with a README;
- a README made of the student instructions of README.md.

No lab source, no gradebook, no nbgrader working folder, no tests. Before it
returns, every file of the edition is read line by line: a line that only
exists inside a solution or a hidden test of a lab, a region marker or a
database stops the build (and the edition is removed). ``out`` may be a clone
of the published edition: its ``.git`` is kept, everything else is rewritten.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from course_utils import syllabus
from graders.labs import (
    HIDDEN_MARKERS,
    LABS_DIR,
    REPO_ROOT,
    SOLUTION_MARKERS,
    GradingError,
    lab_ids,
    lab_notebook,
    secret_lines,
    split_regions,
)
from graders.release import release

# Copied as they are (paths relative to the repository root).
INSTALL_FILES = (
    "pyproject.toml",
    "requirements.lock",
    "environment.yml",
    "bin/course",
    "nbgrader_config.py",
    ".gitignore",
    "course/syllabus.yml",
)
PACKAGES = ("course/course_utils", "graders")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", ".pytest_cache")
# Written last: marks a folder that `build` made (and may therefore empty and rewrite).
STAMP = ".student-edition.json"

# README.md: the student section, and what else a student needs, in this order.
STUDENT_SECTION = "Démarrer (étudiants)"
EXTRA_SECTIONS = ("Le modèle de base du cours",)
# Parts of README.md that only make sense in the instructor's repository.
INSTRUCTOR_ONLY = re.compile(
    r"[ \t]*<!-- BEGIN instructor-only -->.*?<!-- END instructor-only -->[ \t]*\n(?:[ \t]*\n)?", re.S
)
# An nbgrader region marker on a line of its own (`### BEGIN SOLUTION`...), not a mention in prose or code.
MARKER_LINE = re.compile(r"#+\s*(BEGIN|END) (SOLUTION|HIDDEN TESTS)\b")


def default_jobs() -> int:
    return max(1, min(4, os.cpu_count() or 1))


# --- what is secret ------------------------------------------------------------


def _visible_lines(nb) -> set[str]:
    """Lines of a lab source outside its solution and hidden-test regions: students see them."""
    lines = set()
    for cell in nb.cells:
        outside, _ = split_regions(cell.source, SOLUTION_MARKERS)
        outside, _ = split_regions("\n".join(outside), HIDDEN_MARKERS)
        lines |= {line.strip() for line in outside}
    return lines


def file_lines(path: Path) -> list[tuple[str, str]] | None:
    """``(where, line)`` for each line of a text file, of a notebook's cells (sources and text
    outputs); None for a binary file."""
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        found = []
        for index, cell in enumerate(nb.cells, 1):
            texts = [cell.source] + [
                o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"])
                for o in cell.get("outputs", [])
            ]
            found += [(f"cellule {index}", line) for text in texts for line in text.splitlines()]
        return found
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None
    return [(f"ligne {number}", line) for number, line in enumerate(text.splitlines(), 1)]


def public_files(root: Path, syl: dict) -> list[Path]:
    """What the course publishes as is: chapters, module READMEs, the course package and the graders."""
    files = [root / path for path in syllabus.notebooks(syl)]
    files += [root / module["id"] / "README.md" for module in syllabus.modules(syl)]
    return files + [path for package in PACKAGES for path in sorted((root / package).glob("*.py"))]


def solution_only_lines(root: Path = REPO_ROOT, labs_dir: Path = LABS_DIR, syl: dict | None = None) -> set[str]:
    """Lines of the labs' solutions and hidden tests that the course shows nowhere else.

    ``graders.labs.secret_lines`` of every lab source, less the lines that a
    chapter, the course package or the visible part of a lab also shows: a
    solution may well contain ``loss.backward()``, or a line a chapter teaches.
    """
    syl = syl or syllabus.load(root / "course" / "syllabus.yml")
    secrets, public = set(), set()
    for lab_id in lab_ids(labs_dir):
        nb = nbformat.read(lab_notebook(lab_id, labs_dir), as_version=4)
        secrets |= secret_lines(nb)
        public |= _visible_lines(nb)
    for path in public_files(root, syl):
        public |= {line.strip() for _, line in file_lines(path) or []}
    return secrets - public


def find_leaks(folder: Path, secrets: set[str]) -> list[str]:
    """What must not reach students, file by file: secret lines, region markers, databases,
    nbgrader working folders. An empty list when the folder is clean."""
    problems = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder)
        if rel.parts[0] == ".git":
            continue
        if path.suffix in (".db", ".sqlite", ".sqlite3"):
            problems.append(f"{rel} : base de données (gradebook ?)")
        if ".nbgrader" in rel.parts:
            problems.append(f"{rel} : dossier de travail de nbgrader")
        if path.suffix == ".ipynb":
            raw = path.read_text(encoding="utf-8")
            problems += [f"{rel} : marqueur « {m} »" for m in SOLUTION_MARKERS + HIDDEN_MARKERS if m in raw]
        for where, line in file_lines(path) or []:
            stripped = line.strip()
            if MARKER_LINE.match(stripped):
                problems.append(f"{rel} ({where}) : marqueur de région nbgrader « {stripped[:60]} »")
            elif stripped in secrets:
                problems.append(f"{rel} ({where}) : ligne de solution ou de test caché « {stripped[:80]} »")
    return problems


# --- READMEs -------------------------------------------------------------------


def _sections(text: str) -> tuple[str, dict[str, str]]:
    """The text before the first ``## `` heading, and each ``## `` section by title."""
    parts = re.split(r"^## ", text, flags=re.M)
    return parts[0], {part.partition("\n")[0].strip(): "## " + part for part in parts[1:]}


def student_readme(root: Path, syl: dict) -> str:
    """README of the edition: introduction and student sections of README.md, and the course plan."""
    intro, sections = _sections(INSTRUCTOR_ONLY.sub("", (root / "README.md").read_text(encoding="utf-8")))
    if STUDENT_SECTION not in sections:
        raise GradingError(f"README.md : section « ## {STUDENT_SECTION} » introuvable (instructions des étudiants).")
    url, branch = syllabus.student_edition(syl)
    note = (
        f"> **Édition étudiante** du cours ({url}, branche `{branch}`), construite par `course student-edition`\n"
        "> depuis le dépôt de l'enseignant. Les labs de [`labs/`](labs/README.md) sont les versions élèves : ni\n"
        "> solution ni test caché.\n"
    )
    parts = [intro.rstrip() + "\n", note, sections[STUDENT_SECTION].rstrip() + "\n"]
    parts += [sections[title].rstrip() + "\n" for title in EXTRA_SECTIONS if title in sections]
    parts.append("## Plan du cours\n\n" + syllabus.course_table(syl) + "\n")
    return "\n".join(parts)


def labs_readme(syl: dict, notebooks: dict[str, Path]) -> str:
    rows = ["| Lab | Notebook | Points | Durée | Profils |", "|---|---|---|---|---|"]
    for lab in syllabus.labs(syl):
        name = notebooks[lab["id"]].name
        rows.append(
            f"| {lab['title']} (`{lab['id']}`) | [{name}]({lab['id']}/{name}) | {lab['points']} | "
            f"{lab['duration_min']} min | {', '.join(lab['profiles'])} |"
        )
    return (
        "# Labs notés (versions élèves)\n\n"
        "Chaque dossier contient la version élève d'un lab : complétez les cellules de réponse (elles lèvent "
        "`NotImplementedError`) sans modifier les cellules verrouillées ni les cellules de test. Les tests visibles "
        "vérifient votre travail ; l'enseignant ajoute des tests cachés à la correction.\n\n"
        "Avant de rendre un lab, depuis la racine de l'édition : `bin/course validate labs/<lab>/<notebook>.ipynb` "
        "(ou le bouton **Validate** de JupyterLab).\n\n" + "\n".join(rows) + "\n"
    )


# --- the edition -----------------------------------------------------------------


def _prepare(out: Path, root: Path, labs_dir: Path) -> None:
    """An empty ``out`` (its ``.git`` kept); refuse a folder that is not a former edition."""
    if out == root or out in root.parents or out == labs_dir or labs_dir in out.parents:
        raise GradingError(f"{out} : choisissez un dossier hors du dépôt de l'enseignant et de labs/.")
    if out.exists():
        if not out.is_dir():
            raise GradingError(f"{out} n'est pas un dossier.")
        entries = [p for p in out.iterdir() if p.name != ".git"]
        if entries and not (out / STAMP).exists():
            raise GradingError(
                f"{out} n'est pas vide et n'est pas une édition étudiante : choisissez un dossier vide "
                "(ou un clone de l'édition publiée)."
            )
        _empty(out)
    out.mkdir(parents=True, exist_ok=True)


def _empty(out: Path) -> None:
    for entry in out.iterdir():
        if entry.name == ".git":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _source_commit(root: Path) -> str | None:
    done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() or None


def release_labs(ids: list[str], labs_out: Path, labs_dir: Path = LABS_DIR, jobs: int | None = None) -> dict[str, Path]:
    """The grader's release of each lab (several at once), copied to ``labs_out/<lab_id>/``.

    nbgrader's working folders (gradebook, source copy) stay in a temporary folder.
    """
    with tempfile.TemporaryDirectory(prefix="student-edition-") as work:
        with ThreadPoolExecutor(max_workers=jobs or default_jobs()) as pool:
            released = list(pool.map(lambda lab_id: release([lab_id], Path(work), labs_dir)[lab_id], ids))
        notebooks = {}
        for lab_id, notebook in zip(ids, released, strict=True):
            shutil.copytree(notebook.parent, labs_out / lab_id, ignore=IGNORED)
            notebooks[lab_id] = labs_out / lab_id / notebook.name
    return notebooks


def support_files(folder: Path, secrets: set[str]) -> tuple[list[Path], list[Path]]:
    """What a part's chapters read besides themselves (a UI, a data file), never a notebook: (published, withheld).

    A file that holds a line of a lab's solution or hidden tests is withheld: day-02's
    chatbot backend is the capstone lab's solution, so the chapters that import it run in
    the instructor's repository only (the part's README in the edition says so).
    """
    kept, withheld = [], []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".py", ".yml", ".yaml", ".json")):
        if any(line.strip() in secrets for _, line in file_lines(path) or []):  # what find_leaks would refuse
            print(f"non publié (contient des lignes de solution d'un lab) : {path.relative_to(folder.parent)}")
            withheld.append(path)
        else:
            kept.append(path)
    return kept, withheld


def withheld_note(names: list[str]) -> str:
    """The paragraph a part's README gets in the edition when some of its files are withheld."""
    listed = ", ".join(f"`{name}`" for name in names)
    verb, holds, it = (
        ("ne sont pas publiés", "ils contiennent", "les ")
        if len(names) > 1
        else ("n'est pas publié", "il contient", "l'")
    )
    return (
        f"\n> **Édition étudiante :** {listed} {verb} ici : {holds} la solution d'un lab. Les chapitres qui {it}"
        "importent s'arrêtent sur un message qui le dit ; ils s'exécutent depuis le dépôt de l'enseignant, une fois "
        "le lab rendu.\n"
    )


def build(out: Path, root: Path = REPO_ROOT, labs_dir: Path = LABS_DIR, jobs: int | None = None) -> dict:
    """Write the student edition into ``out``; return what it holds (chapters, labs)."""
    out, root, labs_dir = out.resolve(), root.resolve(), labs_dir.resolve()
    syl = syllabus.load(root / "course" / "syllabus.yml")
    _prepare(out, root, labs_dir)
    try:
        summary = _write(out, root, labs_dir, syl, jobs)
    except BaseException:
        _empty(out)  # never a half-built edition that looks like a whole one
        raise
    (out / STAMP).write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return summary


def _write(out: Path, root: Path, labs_dir: Path, syl: dict, jobs: int | None) -> dict:
    chapters = syllabus.notebooks(syl)
    secrets = solution_only_lines(root, labs_dir, syl)
    for module in syllabus.modules(syl):
        (out / module["id"]).mkdir()
        kept, withheld = support_files(root / module["id"], secrets)
        readme = (root / module["id"] / "README.md").read_text(encoding="utf-8")
        if withheld:
            readme = readme.rstrip("\n") + "\n" + withheld_note([path.name for path in withheld])
        (out / module["id"] / "README.md").write_text(readme, encoding="utf-8")
        for path in kept:
            shutil.copy2(path, out / module["id"] / path.name)
    for path in chapters:
        shutil.copy2(root / path, out / path)
    for name in INSTALL_FILES:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, out / name)
    for package in PACKAGES:
        shutil.copytree(root / package, out / package, ignore=IGNORED)

    labs = release_labs([lab["id"] for lab in syllabus.labs(syl)], out / "labs", labs_dir, jobs)
    (out / "labs" / "README.md").write_text(labs_readme(syl, labs), encoding="utf-8")
    (out / "README.md").write_text(student_readme(root, syl), encoding="utf-8")

    problems = find_leaks(out, secrets)
    if problems:
        shown = "\n".join(f"  - {p}" for p in problems[:20])
        raise GradingError(f"Édition étudiante refusée (et effacée) : {len(problems)} fuite(s)\n{shown}")
    return {
        "built_by": "course student-edition",
        "source_commit": _source_commit(root),
        "chapters": chapters,
        "labs": {lab_id: nb.relative_to(out).as_posix() for lab_id, nb in labs.items()},
    }


# --- checks from inside the edition ------------------------------------------------


def edition_env(edition: Path) -> dict[str, str]:
    """Environment whose Python finds the edition's packages first (not this repository's)."""
    path = os.pathsep.join([str(edition / "course"), str(edition)])
    return {**os.environ, "PYTHONPATH": path}


def validate_lab(edition: Path, notebook: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    """``course validate`` on a notebook of the edition, with the edition's packages."""
    return subprocess.run(
        [sys.executable, "-m", "course_utils.cli", "validate", str(notebook)],
        cwd=edition,
        env=edition_env(edition),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def not_yet_solved(done: subprocess.CompletedProcess) -> bool:
    """What ``course validate`` says of a released lab: visible tests fail, nothing else is wrong."""
    return done.returncode == 1 and "en échec" in done.stdout and "modifiées" not in done.stdout


def validate_labs(
    edition: Path, labs: list[str] | None = None, jobs: int | None = None
) -> dict[str, subprocess.CompletedProcess]:
    """``course validate`` on the labs of the edition (default: all; several at once), by lab id.

    It executes each lab from top to bottom: about 5 to 20 s of CPU per lab under ``ci``.
    """
    notebooks = {nb.parent.name: nb for nb in sorted((edition / "labs").glob("*/*.ipynb"))}
    if labs is not None:
        notebooks = {lab_id: notebooks[lab_id] for lab_id in labs}
    with ThreadPoolExecutor(max_workers=jobs or default_jobs()) as pool:
        done = pool.map(lambda nb: validate_lab(edition, nb), notebooks.values())
        return dict(zip(notebooks, done, strict=True))
