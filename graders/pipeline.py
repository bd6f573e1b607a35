"""Release and autograde the labs with nbgrader, robustly.

``labs/<lab_id>/`` is nbgrader's source folder for one lab. Everything nbgrader
writes (gradebook, release, submitted, autograded, feedback) lives in a fresh
working course directory under ``--out``, never in ``labs/``.

Grading runs one nbgrader process per submission, with a per-cell timeout, a
memory limit and a wall-clock limit, so that a submission that loops, raises,
kills its kernel or eats the memory is graded or flagged without stopping the
others. Before grading, each submission is checked against the released
notebook: deleted or altered graded cells are reported (nbgrader restores them
from the gradebook, so the grade is computed on the instructor's tests).
"""

from __future__ import annotations

import csv
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from course_utils import base_model
from course_utils.quiet import QUIET_ENV, ipython_startup_file
from graders import sandbox
from graders.preprocessors import STDERR_MARK

REPO_ROOT = Path(__file__).resolve().parent.parent
LABS_DIR = REPO_ROOT / "labs"
CONFIG_FILE = Path(__file__).resolve().parent / "nbgrader_config.py"

SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION")
HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
# Quiet kernels: libraries read these at import; the kernel start-up file (see
# prepare_course) quiets their loggers. Stderr left in a test cell is kept as
# stdout by graders.preprocessors.StderrToStdout and reported, never scored 0.
GRADING_ENV = {**QUIET_ENV, "COURSE_PROFILE": "ci"}


class GradingError(RuntimeError):
    """A problem with the lab itself or the instructor's command (not a student's)."""


# --- labs ------------------------------------------------------------------


def lab_ids(labs_dir: Path = LABS_DIR) -> list[str]:
    return sorted(p.name for p in labs_dir.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def lab_notebook(lab_id: str, labs_dir: Path = LABS_DIR) -> Path:
    folder = labs_dir / lab_id
    if not folder.is_dir():
        known = ", ".join(lab_ids(labs_dir)) or "aucun"
        raise GradingError(f"Lab inconnu : {lab_id!r}. Labs disponibles : {known}.")
    notebooks = sorted(folder.glob("*.ipynb"))
    if len(notebooks) != 1:
        raise GradingError(f"Le lab {lab_id} doit contenir exactement un notebook (trouvés : {len(notebooks)}).")
    return notebooks[0]


def graded_cells(nb) -> dict[str, nbformat.NotebookNode]:
    """The cells nbgrader tracks, by grade_id."""
    cells = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") or meta.get("solution") or meta.get("locked"):
            cells[meta["grade_id"]] = cell
    return cells


def is_test_cell(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


# --- nbgrader processes ----------------------------------------------------


def _limit_memory(megabytes: int):
    def apply():  # runs in the child before exec; the kernel inherits it
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def _nbgrader(
    root: Path,
    *args: str,
    timeout: float | None = None,
    memory_mb: int | None = None,
    cell_timeout: int | None = None,
    runtime: Path | None = None,
) -> subprocess.CompletedProcess:
    """Run one nbgrader command; with ``runtime``, its kernel runs in the sandbox."""
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={root}"]
    if cell_timeout is not None:
        command.append(f"--Execute.timeout={cell_timeout}")
    env = {**os.environ, **GRADING_ENV, "IPYTHONDIR": str(root / ".ipython")}
    # nbgrader runs the `alembic` script of its own environment.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if runtime is not None:
        # The sandbox's kernel has no network: it talks to nbgrader over Unix sockets
        # in a short private folder (a socket path has at most 107 characters).
        command += [
            f"--Execute.kernel_name={sandbox.KERNEL_NAME}",
            "--KernelManager.transport=ipc",
            f"--KernelManager.ip={runtime / 'k'}",
            f"--KernelManager.connection_file={runtime / 'kernel.json'}",
        ]
        env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(root / ".jupyter"), env.get("JUPYTER_PATH")]))
        env["JUPYTER_RUNTIME_DIR"] = str(runtime)
        # The only two folders the launcher hands to the kernel's user (it checks them).
        env["COURSE_SANDBOX_RUNTIME"] = str(runtime)
        env["COURSE_SANDBOX_SCRATCH_ROOT"] = str(root / "autograded")
    return subprocess.run(
        command,
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_memory(memory_mb) if memory_mb else None,
    )


def write_quiet_ipython_dir(folder: Path) -> Path:
    """An IPYTHONDIR whose kernels quiet library loggers before any cell runs."""
    profile = folder / "profile_default"
    for sub in ("startup", "security", "log", "pid", "db"):  # read-only in the sandbox: made here
        (profile / sub).mkdir(parents=True, exist_ok=True)
    (profile / "startup" / "00-course-quiet.py").write_text(ipython_startup_file(), encoding="utf-8")
    (profile / "ipython_kernel_config.py").write_text("c.HistoryManager.enabled = False\n", encoding="utf-8")
    return folder


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
    write_quiet_ipython_dir(root / ".ipython")
    shutil.copytree(
        source_nb.parent, root / "source" / lab_id, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    )
    done = _nbgrader(root, "generate_assignment", lab_id, "--force", "--create")
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


def _split_regions(source: str, markers: tuple[str, str]) -> tuple[list[str], list[str]]:
    """Lines outside and inside the ``BEGIN ...``/``END ...`` regions of one cell (markers dropped)."""
    outside, inside, within = [], [], False
    for line in source.splitlines():
        if markers[0] in line:
            within = True
        elif markers[1] in line:
            within = False
        else:
            (inside if within else outside).append(line)
    return outside, inside


def secret_lines(nb) -> set[str]:
    """Lines inside solution or hidden-test regions (long enough to be specific)."""
    secrets = set()
    for cell in nb.cells:
        for markers in (SOLUTION_MARKERS, HIDDEN_MARKERS):
            for line in _split_regions(cell.source, markers)[1]:
                stripped = line.strip()
                if len(stripped) > 12 and not stripped.startswith("#"):
                    secrets.add(stripped)
    return secrets


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


# --- submissions -----------------------------------------------------------

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


@dataclass
class Result:
    student: str
    score: float = 0.0
    max_score: float = 0.0
    status: str = "graded"  # graded | flagged | failed
    flags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the instructor; do not change the status
    feedback: str = ""


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
    return "\n".join(_split_regions(source, HIDDEN_MARKERS)[0]).strip()


def _execution_flags(autograded: Path, log: str) -> list[str]:
    """Timeouts and dead kernels, from the autograded notebook and nbgrader's log."""
    text = log + (autograded.read_text(encoding="utf-8") if autograded.exists() else "")
    flags = []
    if "CellTimeoutError" in text:
        flags.append("délai dépassé dans une cellule (boucle infinie ?)")
    if "DeadKernelError" in text or "Kernel died" in text:
        flags.append("le noyau Python s'est arrêté (os._exit, plantage ou mémoire) : copie à vérifier à la main")
    return flags


def _reclaim(folder: Path) -> None:
    """Give back to the grader what the sandbox's user owned in a submission's folder."""
    uid, gid = os.getuid(), os.getgid()
    for path in [folder, *folder.rglob("*")] if folder.exists() else []:
        if not path.is_symlink():
            os.chown(path, uid, gid)


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


def _read_scores(root: Path, lab_id: str) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        for student in gradebook.students:
            try:
                submission = gradebook.find_submission(lab_id, student.id)
            except MissingEntry:
                continue
            scores[student.id] = (float(submission.score), float(submission.max_score))
    return scores


def autograde(
    lab_id: str,
    submissions: Path,
    out: Path,
    *,
    cell_timeout: int = 60,
    memory_mb: int = 6144,
    labs_dir: Path = LABS_DIR,
    prepared: Path | None = None,
    unsafe: bool = False,
) -> list[Result]:
    """Grade every student folder in ``submissions``; write feedback and grades.

    Writes ``out/<lab_id>/grades.csv``, ``report.json`` and
    ``feedback/<student>.html``. Returns one :class:`Result` per student.
    ``prepared``: the released notebook of a course directory that
    :func:`prepare_course` made for this lab and nothing graded yet (saves
    generating it again); by default a fresh one is made under ``out``.
    Student code runs in the sandbox (graders/sandbox.py); ``unsafe=True``
    grades without it where this machine cannot enforce it (flagged).
    """
    if not submissions.is_dir():
        raise GradingError(f"Dossier de copies introuvable : {submissions}.")
    unsafe_reason = None
    try:
        sandbox.check_available()
    except sandbox.SandboxUnavailable as exc:
        if not unsafe:
            raise GradingError(
                f"Bac à sable impossible sur cette machine : {exc}. Le code des copies aurait les droits du "
                "correcteur (lire les solutions, modifier les notes, le réseau) : corrigez ailleurs, ou relancez "
                "avec --unsafe en connaissance de cause."
            ) from exc
        unsafe_reason = str(exc)
    lab_out = out / lab_id
    if prepared is None:
        root = lab_out / "nbgrader"
        released_path = prepare_course(lab_id, root, labs_dir)
    else:
        released_path = prepared
        root = prepared.parents[2]
        if not (root / "gradebook.db").exists() or (root / "submitted").exists():
            raise GradingError(f"{root} n'est pas un dossier de cours fraîchement préparé.")
    released = nbformat.read(released_path, as_version=4)
    n_code_cells = sum(c.cell_type == "code" for c in released.cells)
    total = float(
        sum(
            c.metadata["nbgrader"].get("points", 0)
            for c in graded_cells(released).values()
            if c.metadata["nbgrader"].get("grade")
        )
    )
    results: dict[str, Result] = {}
    hidden: set[Path] = set()
    if unsafe_reason is None:
        hidden = {REPO_ROOT, labs_dir.resolve(), root.resolve(), lab_out.resolve(), submissions.resolve()}
        kept = [*sandbox.default_kept(), root / ".ipython"]
        # Models and tokenizers the course built: read, and built privately if missing.
        sandbox.write_kernelspec(root / ".jupyter", sorted(hidden), kept, shared=[base_model.cache_dir()])

    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            ident = student_id(entry.stem) if entry.suffix == ".ipynb" else entry.name
            results[ident] = Result(
                ident,
                max_score=total,
                status="failed",
                flags=["fichier hors d'un dossier d'étudiant : rangez chaque copie dans submissions/<étudiant>/"],
            )
            continue
        ident = student_id(entry.name)
        while ident in results:  # two folders that normalise to the same id
            ident += "_bis"
        result = results[ident] = Result(ident, max_score=total)
        if ident != entry.name:
            result.flags.append(f"identifiant normalisé : « {entry.name} » -> « {ident} »")
        found, flags = find_submission(entry, released_path.name)
        result.flags += flags
        if found is None:
            result.status = "failed"
            continue
        try:
            submitted = nbformat.read(found, as_version=4)
        except Exception as exc:  # not JSON, not a notebook
            result.status, result.flags = "failed", result.flags + [f"notebook illisible : {exc}"]
            continue
        result.flags += integrity_flags(submitted, released)
        target = root / "submitted" / result.student / lab_id
        target.mkdir(parents=True, exist_ok=True)
        nbformat.write(submitted, target / released_path.name)
        autograded = root / "autograded" / result.student / lab_id / released_path.name
        if unsafe_reason is not None:
            result.flags.append(f"noté SANS bac à sable (--unsafe) : {unsafe_reason}")
        runtime = None if unsafe_reason else Path(tempfile.mkdtemp(prefix="cs-", dir="/tmp"))
        try:
            done = _nbgrader(
                root,
                "autograde",
                lab_id,
                f"--student={result.student}",
                "--force",
                timeout=cell_timeout * (n_code_cells + 2) + 120,
                memory_mb=memory_mb,
                cell_timeout=cell_timeout,
                runtime=runtime,
            )
            log = done.stdout + done.stderr
        except subprocess.TimeoutExpired:
            log = ""
            result.flags.append("temps total de correction dépassé")
        finally:
            if runtime is not None:
                shutil.rmtree(runtime, ignore_errors=True)
                _reclaim(root / "autograded" / result.student)
        result.flags += _execution_flags(autograded, log)
        result.flags += sandbox_flags(autograded, sorted(hidden)) if unsafe_reason is None else []
        result.notes += stderr_notes(autograded)
        if not autograded.exists():
            result.status = "failed"
            errors = [line for line in log.splitlines() if "| ERROR]" in line]
            result.flags.append("nbgrader n'a pas pu noter la copie" + (f" : {errors[0]}" if errors else ""))

    scores = _read_scores(root, lab_id)
    feedback_dir = lab_out / "feedback"
    feedback_dir.mkdir(parents=True, exist_ok=True)
    # One nbgrader process writes every student's feedback (it reads only the
    # autograded notebooks, never runs student code).
    if any(r.status != "failed" for r in results.values()):
        _nbgrader(root, "generate_feedback", lab_id, "--force")
    for result in results.values():
        if result.student in scores:
            result.score, result.max_score = scores[result.student]
        if result.status != "failed":
            html = root / "feedback" / result.student / lab_id / released_path.with_suffix(".html").name
            if html.exists():
                shutil.copy(html, feedback_dir / f"{result.student}.html")
                result.feedback = str(feedback_dir / f"{result.student}.html")
        if result.status == "graded" and result.flags:
            result.status = "flagged"

    write_reports(lab_id, list(results.values()), lab_out)
    return list(results.values())


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
