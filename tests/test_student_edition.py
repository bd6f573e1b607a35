"""The student edition holds what students need and nothing secret, and the
students' tools (Fetch, validate) leave the instructor's repository as it was.

The edition is built once, with the command an instructor runs (`course
student-edition`, every lab released by the grader). Validating executes a
whole lab (5 to 20 s of CPU each): two labs are validated from inside the
edition, every lab is checked statically; `course student-edition --validate`
validates them all before publishing.
"""

import json
import re
import shutil
import subprocess
import sys
import time

import nbformat
import pytest
from nbclient import NotebookClient

import submissions as S
from course_utils import chatbot, cli, syllabus
from graders import labs, student_edition
from graders.labs import GradingError

pytestmark = pytest.mark.xdist_group("student-edition")

# Validated from inside the edition: two of the fastest labs, from two parts.
VALIDATED = ["partie-01-metriques", "partie-02-entropie"]
# Run from inside the edition: a chapter without torch (a few seconds).
CHAPTER = "partie-03/03-ngrammes.ipynb"
MARKERS = labs.SOLUTION_MARKERS + labs.HIDDEN_MARKERS


@pytest.fixture(scope="session")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("edition") / "cours-llm-etudiant"
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "course_utils.cli", "student-edition", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "aucune ligne de solution" in done.stdout
    print(f"édition construite en {time.perf_counter() - start:.0f} s")
    return out


@pytest.fixture(scope="session")
def secrets(root, syl):
    """Lines that only exist inside the labs' solutions and hidden tests (graders.labs.secret_lines)."""
    found = student_edition.solution_only_lines(root, labs.LABS_DIR, syl)
    for lab_id in labs.lab_ids():
        own = labs.secret_lines(nbformat.read(labs.lab_notebook(lab_id), as_version=4))
        assert own & found, f"{lab_id} : aucune ligne de solution propre, le test ne vérifierait rien"
    return found


def _lines(path):
    if path.suffix == ".ipynb":
        nb = nbformat.read(path, as_version=4)
        return [line for cell in nb.cells for line in cell.source.splitlines()]
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        return []


def _leaks(folder, secrets):
    """Secret lines, markers, databases and nbgrader folders anywhere under ``folder``."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if path.suffix == ".db" or "/.nbgrader/" in f"/{rel}":
            found.append(rel)
        if path.suffix == ".ipynb" and any(m in path.read_text(encoding="utf-8") for m in MARKERS):
            found.append(f"{rel}: marqueur")
        found += [f"{rel}: {line.strip()}" for line in _lines(path) if line.strip() in secrets]
    return found


def test_no_solution_reaches_the_edition(edition, secrets):
    assert _leaks(edition, secrets) == []
    assert not (edition / "tests").exists() and not list(edition.rglob("gradebook.db"))
    hidden = sorted(p.name for p in edition.iterdir() if p.name.startswith("."))
    assert hidden == [".gitignore", student_edition.STAMP]


@pytest.mark.parametrize("plant", ["secret", "marker", "gradebook"])
def test_the_leak_checks_catch_a_planted_leak(edition, secrets, tmp_path, plant):
    copy = tmp_path / "edition"
    shutil.copytree(edition / "labs" / "partie-02-entropie", copy / "labs" / "partie-02-entropie")
    shutil.copytree(edition / "course", copy / "course")
    assert _leaks(copy, secrets) == [] and student_edition.find_leaks(copy, secrets) == []
    (notebook,) = (copy / "labs" / "partie-02-entropie").glob("*.ipynb")
    nb = nbformat.read(notebook, as_version=4)
    source = labs.lab_notebook("partie-02-entropie")
    line = sorted(labs.secret_lines(nbformat.read(source, as_version=4)) & secrets)[0]
    if plant == "secret":
        (copy / "course" / "course_utils" / "helpers.py").write_text(f"def f():\n    {line}\n", encoding="utf-8")
    elif plant == "marker":
        nb.cells[-1].source += "\n### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS"
        nbformat.write(nb, notebook)
    else:
        (copy / "labs" / "gradebook.db").write_bytes(b"SQLite format 3\x00")
    assert _leaks(copy, secrets), "le test ne voit pas la fuite plantée"
    assert student_edition.find_leaks(copy, secrets), "la construction ne verrait pas la fuite plantée"


def test_every_chapter_is_the_repositorys(edition, root, syl):
    for path in syllabus.notebooks(syl):
        assert (edition / path).read_bytes() == (root / path).read_bytes(), path
    for module in syllabus.modules(syl):
        readme = f"{module['id']}/README.md"
        expected = (root / readme).read_text(encoding="utf-8")
        if module["id"] == "day-02":  # the note on its withheld backend
            expected = expected.rstrip("\n") + "\n" + student_edition.withheld_note(["chatbot_backend.py"])
        assert (edition / readme).read_text(encoding="utf-8") == expected, readme
    stamp = json.loads((edition / ".student-edition.json").read_text(encoding="utf-8"))
    assert stamp["chapters"] == syllabus.notebooks(syl)


_FROM_THE_EDITION_ONLY = """
import sys
from pathlib import Path

import course_utils

repo, edition = Path({repo!r}), Path({edition!r})
venv = Path(sys.prefix).resolve()
def from_repo(path):
    path = Path(path).resolve()
    return path.is_relative_to(repo) and not path.is_relative_to(venv)
assert Path(course_utils.__file__).resolve().is_relative_to(edition), course_utils.__file__
assert not [p for p in sys.path if p and from_repo(p)], sys.path
modules = [m.__file__ for m in list(sys.modules.values()) if getattr(m, "__file__", None) and from_repo(m.__file__)]
assert not modules, modules
"""


def test_a_chapter_runs_from_the_edition_alone(edition, root, syl):
    assert CHAPTER in syllabus.notebooks(syl)
    nb = nbformat.read(edition / CHAPTER, as_version=4)
    check = _FROM_THE_EDITION_ONLY.format(repo=str(root.resolve()), edition=str(edition.resolve()))
    nb.cells.append(nbformat.v4.new_code_cell(check))
    env = {**student_edition.edition_env(edition), **cli.OFFLINE_ENV}
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str((edition / CHAPTER).parent)}}
    )
    client.execute(env=env)  # raises CellExecutionError on a failing cell, the check included


def test_every_released_lab_is_unsolved_and_complete(edition, syl):
    for lab in syllabus.labs(syl):
        source = labs.lab_notebook(lab["id"])
        released = nbformat.read(edition / "labs" / lab["id"] / source.name, as_version=4)
        answers = [c for c in released.cells if c.metadata.get("nbgrader", {}).get("solution")]
        assert answers, lab["id"]
        for cell in answers:
            stub = "NotImplementedError" if cell.cell_type == "code" else "VOTRE RÉPONSE ICI"
            assert stub in cell.source, (lab["id"], cell.metadata["nbgrader"]["grade_id"])
        assert labs.graded_cells(released).keys() == labs.graded_cells(nbformat.read(source, as_version=4)).keys()
    assert {p.parent.name for p in (edition / "labs").glob("*/*.ipynb")} == {lab["id"] for lab in syllabus.labs(syl)}


@pytest.mark.slow
def test_released_labs_validate_as_not_yet_solved(edition):
    results = student_edition.validate_labs(edition, VALIDATED)
    for lab_id, done in results.items():
        assert student_edition.not_yet_solved(done), f"{lab_id} :\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"


def test_chapters_find_the_files_they_read_unless_a_lab_s_solution_is_inside(edition, root):
    """A part's UI and data files are published; day-02's backend, the capstone lab's solution, is not."""
    for name in ("day-02/chatbot_ui.py", "partie-11/chatbot_entreprise_ui.py", "partie-12/glossaire.yml"):
        assert (edition / name).read_bytes() == (root / name).read_bytes(), name
    assert not (edition / "day-02" / "chatbot_backend.py").exists()
    readme = (edition / "day-02" / "README.md").read_text(encoding="utf-8")
    assert readme.endswith(student_edition.withheld_note(["chatbot_backend.py"])), readme[-400:]
    with pytest.raises(FileNotFoundError, match="édition étudiante"):
        chatbot.load_backend(edition / "partie-11")


def test_colab_badges_and_lab_links_open_the_edition(edition, syl):
    url, branch = syllabus.student_edition(syl)
    colab = "https://colab.research.google.com/github/" + url.removeprefix("https://github.com/") + f"/blob/{branch}/"
    targets = []
    for module in syllabus.modules(syl):
        text = (edition / module["id"] / "README.md").read_text(encoding="utf-8")
        for link in re.findall(r"\]\((https://colab\.research\.google\.com/github/[^)]+)\)", text):
            assert link.startswith(colab), link
            targets.append(link.removeprefix(colab))
        for link in re.findall(rf"\]\(({re.escape(url)}/[^)]+)\)", text):
            targets.append(link.removeprefix(f"{url}/tree/{branch}/"))
    assert len(targets) == len(syllabus.notebooks(syl)) + 2 * len(syllabus.labs(syl))
    missing = [t for t in targets if not (edition / t).exists()]
    assert not missing, f"liens vers des fichiers absents de l'édition : {missing}"


def test_the_edition_installs_and_tells_students_what_to_do(edition, syl):
    for name in student_edition.INSTALL_FILES:
        assert (edition / name).is_file(), name
    assert (edition / "bin" / "course").stat().st_mode & 0o111
    assert (edition / "course" / "course_utils" / "cli.py").is_file() and (edition / "graders" / "kernels.py").is_file()
    readme = (edition / "README.md").read_text(encoding="utf-8")
    assert "## Démarrer (étudiants)" in readme and "bin/course lab" in readme and "bin/course validate" in readme
    assert "instructor-only" not in readme and "## Enseigner" not in readme
    assert syllabus.student_edition(syl)[0] in readme
    labs_readme = (edition / "labs" / "README.md").read_text(encoding="utf-8")
    assert all(f"(`{lab['id']}`)" in labs_readme for lab in syllabus.labs(syl))


def test_build_refuses_a_folder_that_is_not_an_edition(root, tmp_path):
    (tmp_path / "notes.txt").write_text("à garder", encoding="utf-8")
    for out in (tmp_path, root, root / "labs" / "x"):
        with pytest.raises(GradingError):
            student_edition.build(out)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "à garder"


def test_a_former_edition_is_rewritten_but_its_git_kept(root, tmp_path):
    out = tmp_path / "clone"
    (out / ".git").mkdir(parents=True)
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    student_edition._prepare(out, root, labs.LABS_DIR)  # a fresh clone: only .git
    (out / student_edition.STAMP).write_text("{}", encoding="utf-8")
    (out / "partie-99").mkdir()
    (out / "partie-99" / "ancien.ipynb").write_text("{}", encoding="utf-8")
    student_edition._prepare(out, root, labs.LABS_DIR)  # a former edition: emptied
    assert [p.name for p in out.iterdir()] == [".git"] and (out / ".git" / "HEAD").is_file()


# --- the students' tools leave tracked files alone ---------------------------------


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_validate_works_on_a_copy(tmp_path):
    folder = tmp_path / "tracked"
    folder.mkdir()
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("open('trace.txt', 'w').write('écrit par le notebook')"),
            nbformat.v4.new_code_cell("open('lab.ipynb', 'a').write(' ')"),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "lab.ipynb")
    (folder / "data.txt").write_text("données du lab", encoding="utf-8")
    before = _snapshot(folder)
    done = subprocess.run(
        [sys.executable, "-m", "course_utils.cli", "validate", str(folder / "lab.ipynb")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _snapshot(folder) == before, "course validate a modifié le dossier du notebook"


def test_fetch_lands_in_the_ignored_devoirs_folder(root, tmp_path, monkeypatch):
    from nbgrader.server_extensions.assignment_list.handlers import AssignmentList

    # A copy of the course's JupyterLab configuration, and a lab released to its local exchange.
    (tmp_path / "graders").mkdir()
    shutil.copy(root / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    shutil.copy(root / "graders" / "nbgrader_config.py", tmp_path / "graders" / "nbgrader_config.py")
    outbound = tmp_path / ".course-work" / "exchange" / "cours-llm" / "outbound" / S.TINY_LAB
    outbound.mkdir(parents=True)
    shutil.copy(labs.lab_notebook(S.TINY_LAB, S.FIXTURE_LABS), outbound / "tiny.ipynb")
    for name, value in cli.lab_env(tmp_path).items():  # what `course lab` gives JupyterLab
        monkeypatch.setenv(name, value)
    manager = AssignmentList()
    manager.root_dir = str(tmp_path)
    assert manager.fetch_assignment("cours-llm", S.TINY_LAB)["success"]
    assert (tmp_path / "devoirs" / S.TINY_LAB / "tiny.ipynb").is_file()
    assert not (tmp_path / S.TINY_LAB).exists()
    listed = manager.list_released_assignments("cours-llm")
    assert listed["success"] and [a["path"] for a in listed["value"]] == [f"devoirs/{S.TINY_LAB}"], listed
    ignored = subprocess.run(["git", "check-ignore", "-q", f"devoirs/{S.TINY_LAB}/tiny.ipynb"], cwd=root)
    assert ignored.returncode == 0, "devoirs/ doit être ignoré par git"
