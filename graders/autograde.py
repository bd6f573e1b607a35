"""Autograding a class: every submission in its own course directory, N at a time.

The trusted parent prepares the lab's course directory (the class gradebook),
reads each student's folder, and grades each submission in a course directory
of its own (a copy of the prepared one, with its own gradebook): one
submission can neither slow down nor change another's grade, and N nbgrader
processes run at once without sharing a database. Student code runs in the
sandbox (graders/sandbox.py), with a per-cell timeout, a memory limit and a
wall-clock limit. The parent then merges each copy's scores into the class
gradebook (where formgrader and ``generate_feedback`` find them) and writes
the reports.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_utils import base_model, rag, serving
from graders import sandbox
from graders.kernels import GRADING_ENV, run_nbgrader
from graders.labs import LABS_DIR, REPO_ROOT, GradingError, graded_cells, lab_models, needs_server
from graders.release import prepare_course
from graders.reports import Result, execution_flags, guard_flags, sandbox_flags, stderr_notes, write_reports
from graders.serve_bridge import UnixBridge
from graders.submissions import find_submission, integrity_flags, student_id


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
    jobs: int | None = None,
    db_url: str | None = None,
) -> list[Result]:
    """Grade every student folder in ``submissions``; write feedback and grades.

    Writes ``out/<lab_id>/grades.csv``, ``report.json`` and
    ``feedback/<student>.html``; the class gradebook is
    ``out/<lab_id>/nbgrader/gradebook.db``. Returns one :class:`Result` per
    student. ``prepared``: the released notebook of a course directory that
    :func:`prepare_course` made for this lab and nothing graded yet (saves
    generating it again). ``jobs``: submissions graded at once (default: the
    number of cores). ``db_url``: the class gradebook as an SQLAlchemy URL
    (nbgrader's ``CourseDirectory.db_url``, e.g. PostgreSQL shared by several
    grading machines) instead of the SQLite file. ``unsafe=True`` grades without
    the sandbox where this machine cannot enforce it (each result is flagged).
    """
    if not submissions.is_dir():
        raise GradingError(f"Dossier de copies introuvable : {submissions}.")
    unsafe_reason = _sandbox_or_refuse(unsafe)
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
    total = float(
        sum(
            c.metadata["nbgrader"].get("points", 0)
            for c in graded_cells(released).values()
            if c.metadata["nbgrader"].get("grade")
        )
    )
    results, to_grade = _collect(submissions, released, released_path.name, total)
    class_db = [f"--CourseDirectory.db_url={db_url}"] if db_url else []
    if db_url:  # the lab's cells in the class gradebook too (kept if already there)
        done = run_nbgrader(root, "generate_assignment", lab_id, "--create", "--force", *class_db)
        if done.returncode != 0:
            raise GradingError(f"Gradebook {db_url} inutilisable :\n{done.stdout}\n{done.stderr}")

    jobs = max(1, jobs or os.cpu_count() or 1)
    build_course_models(lab_id)
    with contextlib.ExitStack() as stack:
        kept = [*sandbox.default_kept(), root / ".ipython"]
        # The sandbox gives the kernel another HOME: name the cache, or it would build the models again.
        kernel_env = {"COURSE_CACHE": str(base_model.cache_dir()), **_serve_env(lab_id, unsafe_reason, kept, stack)}
        hidden: list[Path] = []
        if unsafe_reason is None:
            hidden = sorted({REPO_ROOT, labs_dir.resolve(), root.resolve(), lab_out.resolve(), submissions.resolve()})
            # Models and tokenizers the course built: read, and built privately if missing.
            sandbox.write_kernelspec(root / ".jupyter", hidden, kept, shared=[readable_cache(base_model.cache_dir())])
        grading = _Grading(
            lab_id=lab_id,
            root=root,
            copies=lab_out / "copies",
            notebook_name=released_path.name,
            n_code_cells=sum(c.cell_type == "code" for c in released.cells),
            cell_timeout=cell_timeout,
            memory_mb=memory_mb,
            threads=max(1, (os.cpu_count() or 1) // jobs),
            hidden=hidden,
            unsafe_reason=unsafe_reason,
            env=kernel_env,
        )
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(lambda item: grading.grade(*item), to_grade))

    # The parent alone writes the class gradebook, one copy after the other.
    class_url = db_url or f"sqlite:///{root / 'gradebook.db'}"
    for result, _ in to_grade:
        if result.status != "failed":
            _merge_into_class_gradebook(grading.copies / result.student / "gradebook.db", class_url, lab_id, result)
    feedback_dir = lab_out / "feedback"
    feedback_dir.mkdir(parents=True, exist_ok=True)
    # One nbgrader process writes every student's feedback (it reads only the
    # autograded notebooks, never runs student code).
    if any(r.status != "failed" for r in results.values()):
        run_nbgrader(root, "generate_feedback", lab_id, "--force", *class_db)
    for result in results.values():
        if result.status != "failed":
            html = root / "feedback" / result.student / lab_id / released_path.with_suffix(".html").name
            if html.exists():
                shutil.copy(html, feedback_dir / f"{result.student}.html")
                result.feedback = str(feedback_dir / f"{result.student}.html")
        if result.status == "graded" and result.flags:
            result.status = "flagged"
    _flag_in_class_gradebook(class_url, lab_id, results.values())
    write_reports(lab_id, list(results.values()), lab_out)
    return list(results.values())


def build_course_models(lab_id: str) -> None:
    """Build (or find in the cache) the course models the lab loads, here, before any kernel starts:
    a kernel would build them within its cell timeout, once per copy, in a layer thrown away after it."""
    for name in lab_models(lab_id):
        if name == "rag":  # the retrieval corpus of partie-08: documents, questions and their embeddings
            rag.document_embeddings()
            rag.question_embeddings()
        else:
            base_model.course_model_path(name, GRADING_ENV["COURSE_PROFILE"])


def _serve_env(lab_id: str, unsafe_reason: str | None, kept: list[Path], stack: contextlib.ExitStack) -> dict:
    """For a lab that calls the course's server: the server (started if none runs) and how kernels reach it."""
    if not needs_server(lab_id):
        return {}
    server = serving.shared_server(base_model.base_model_path(GRADING_ENV["COURSE_PROFILE"]))
    if unsafe_reason is not None:
        return {"COURSE_SERVE_URL": server.base_url}
    folder = Path(tempfile.mkdtemp(prefix="serve-", dir="/tmp"))  # short: a socket path has at most 107 characters
    stack.callback(shutil.rmtree, folder, ignore_errors=True)
    bridge = stack.enter_context(UnixBridge(folder / "vllm.sock", server.port))
    kept.append(folder)
    return {"COURSE_SERVE_SOCKET": str(bridge.path)}


def readable_cache(cache: Path) -> Path:
    """The course cache, made if missing (the sandbox hides where it would be made) and
    readable by the sandbox's user (entries built before the course made them readable were private)."""
    cache.mkdir(parents=True, exist_ok=True)
    for entry in [cache, *cache.rglob("*")]:
        if entry.is_symlink():
            continue
        entry.chmod(entry.stat().st_mode | (0o055 if entry.is_dir() else 0o044))
    return cache


def _sandbox_or_refuse(unsafe: bool) -> str | None:
    """None when the sandbox works here; else why not (only accepted with ``unsafe``)."""
    try:
        sandbox.check_available()
    except sandbox.SandboxUnavailable as exc:
        if not unsafe:
            raise GradingError(
                f"Bac à sable impossible sur cette machine : {exc}. Le code des copies aurait les droits du "
                "correcteur (lire les solutions, modifier les notes, le réseau) : corrigez ailleurs, ou relancez "
                "avec --unsafe en connaissance de cause."
            ) from exc
        return str(exc)
    return None


def _collect(submissions: Path, released, notebook_name: str, total: float):
    """One result per student folder, and the notebooks that can be graded."""
    results: dict[str, Result] = {}
    to_grade: list[tuple[Result, nbformat.NotebookNode]] = []
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
        found, flags = find_submission(entry, notebook_name)
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
        to_grade.append((result, submitted))
    return results, to_grade


@dataclass(frozen=True)
class _Grading:
    """How to grade one submission of this lab in a course directory of its own."""

    lab_id: str
    root: Path  # the prepared course directory (class gradebook, kernel's .ipython and .jupyter)
    copies: Path  # one course directory per submission below it
    notebook_name: str
    n_code_cells: int
    cell_timeout: int
    memory_mb: int
    threads: int  # each kernel's share of the cores
    hidden: list[Path]  # what the sandbox hides (empty without it)
    unsafe_reason: str | None  # why there is no sandbox, if there is none
    env: dict  # more variables for nbgrader and its kernels (the course cache, how to reach the server)

    def grade(self, result: Result, submitted) -> None:
        course = self.copies / result.student
        if course.exists():
            shutil.rmtree(course)
        course.mkdir(parents=True)
        for name in ("nbgrader_config.py", "gradebook.db"):
            shutil.copy2(self.root / name, course / name)
        shutil.copytree(self.root / "release", course / "release")
        shutil.copytree(self.root / "source", course / "source")
        target = course / "submitted" / result.student / self.lab_id
        target.mkdir(parents=True)
        nbformat.write(submitted, target / self.notebook_name)
        autograded = course / "autograded" / result.student / self.lab_id / self.notebook_name
        if self.unsafe_reason is not None:
            result.flags.append(f"noté SANS bac à sable (--unsafe) : {self.unsafe_reason}")
        runtime = None if self.unsafe_reason else Path(tempfile.mkdtemp(prefix="cs-", dir="/tmp"))
        try:
            done = run_nbgrader(
                course,
                "autograde",
                self.lab_id,
                f"--student={result.student}",
                "--force",
                timeout=self.cell_timeout * (self.n_code_cells + 2) + 120,
                memory_mb=self.memory_mb,
                cell_timeout=self.cell_timeout,
                runtime=runtime,
                home=self.root,
                threads=self.threads,
                env=self.env,
            )
            log = done.stdout + done.stderr
        except subprocess.TimeoutExpired:
            log = ""
            result.flags.append("temps total de correction dépassé")
        finally:
            if runtime is not None:
                shutil.rmtree(runtime, ignore_errors=True)
                _reclaim(course / "autograded" / result.student)
        result.flags += execution_flags(autograded, log)
        result.flags += sandbox_flags(autograded, self.hidden) if self.unsafe_reason is None else []
        result.flags += guard_flags(autograded)
        result.notes += stderr_notes(autograded)
        if not autograded.exists():
            result.status = "failed"
            errors = [line for line in log.splitlines() if "| ERROR]" in line]
            result.flags.append("nbgrader n'a pas pu noter la copie" + (f" : {errors[0]}" if errors else ""))
            return
        # The class course directory keeps what formgrader and generate_feedback read.
        for kind in ("submitted", "autograded"):
            destination = self.root / kind / result.student
            if destination.exists():
                shutil.rmtree(destination)
            shutil.copytree(course / kind / result.student, destination)


def _reclaim(folder: Path) -> None:
    """Give back to the grader what the sandbox's user owned in a submission's folder."""
    uid, gid = os.getuid(), os.getgid()
    for path in [folder, *folder.rglob("*")] if folder.exists() else []:
        if not path.is_symlink():
            os.chown(path, uid, gid)


def _merge_into_class_gradebook(copy_db: Path, class_url: str, lab_id: str, result: Result) -> None:
    """Copy one student's scores and comments from their copy's gradebook into the class's."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{copy_db}") as theirs, Gradebook(class_url) as klass:
        try:
            graded = theirs.find_submission(lab_id, result.student)
        except MissingEntry:
            result.status = "failed"
            result.flags.append("aucune note enregistrée par nbgrader pour cette copie")
            return
        klass.update_or_create_student(result.student)
        try:
            klass.remove_submission(lab_id, result.student)
        except MissingEntry:
            pass
        with klass.db.no_autoflush:  # nbgrader builds the rows before adding them
            klass.add_submission(lab_id, result.student, timestamp=graded.timestamp)
        for notebook in graded.notebooks:
            for grade in notebook.grades:
                mine = klass.find_grade(grade.name, notebook.name, lab_id, result.student)
                mine.auto_score, mine.manual_score = grade.auto_score, grade.manual_score
                mine.extra_credit, mine.needs_manual_grade = grade.extra_credit, grade.needs_manual_grade
            for comment in notebook.comments:
                mine = klass.find_comment(comment.name, notebook.name, lab_id, result.student)
                mine.auto_comment, mine.manual_comment = comment.auto_comment, comment.manual_comment
        klass.db.commit()
        merged = klass.find_submission(lab_id, result.student)
        result.score, result.max_score = float(merged.score), float(merged.max_score)


def _flag_in_class_gradebook(class_url: str, lab_id: str, results) -> None:
    """Flagged copies are flagged in formgrader too, for the manual look."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(class_url) as klass:
        for result in results:
            try:
                submission = klass.find_submission(lab_id, result.student)
            except MissingEntry:
                continue
            for notebook in submission.notebooks:
                notebook.flagged = result.status == "flagged"
        klass.db.commit()
