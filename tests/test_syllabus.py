"""The syllabus is the single source of truth: the repository must agree with it."""

import re
from pathlib import Path

import nbformat
import pytest

from course_utils import base_model, syllabus

COURSE_MAP = Path(__file__).resolve().parents[2] / "shared" / "COURSE_MAP.md"


def on_disk_notebooks(root):
    found = set()
    for folder in sorted(root.glob("day-*")) + sorted(root.glob("partie-*")):
        found |= {
            p.relative_to(root).as_posix() for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
        }
    return found


def test_notebooks_on_disk_and_in_syllabus_agree(root, syl):
    assert on_disk_notebooks(root) == set(syllabus.notebooks(syl))


def test_labs_on_disk_and_in_syllabus_agree(root, syl):
    on_disk = {p.parent.name for p in (root / "labs").glob("*/*.ipynb")}
    assert on_disk == {lab["id"] for lab in syllabus.labs(syl)}


def test_lab_points_match_the_notebook(root, syl):
    for lab in syllabus.labs(syl):
        (notebook,) = (root / "labs" / lab["id"]).glob("*.ipynb")
        nb = nbformat.read(notebook, as_version=4)
        points = sum(
            c.metadata.get("nbgrader", {}).get("points", 0)
            for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")
        )
        assert points == lab["points"], lab["id"]


def test_modules_have_a_readme_and_required_fields(root, syl):
    for module in syllabus.modules(syl):
        assert (root / module["id"] / "README.md").is_file()
        for nb in module["notebooks"]:
            assert nb["path"].startswith(module["id"] + "/")
            assert set(nb["profiles"]) <= {"ci", "cpu", "gpu"} and nb["duration_min"] > 0
        for lab in module["labs"]:
            assert lab["points"] > 0 and lab["duration_min"] > 0 and "ci" in lab["profiles"]


def test_generated_readmes_and_colab_cells_are_up_to_date(root):
    stale = syllabus.sync(root, check=True)
    assert not stale, f"Lancez `course sync` : {', '.join(str(p.relative_to(root)) for p in stale)}"


def test_repository_urls_are_set_in_one_place(root, syl):
    for url in (syl["repository"], syl["student_edition"]["repository"]):
        holders = [p for p in root.rglob("*.py") if ".venv" not in p.parts and url in p.read_text(encoding="utf-8")]
        assert holders == [], f"{url} ne doit être écrite que dans course/syllabus.yml"


def test_readme_tables_send_students_to_the_student_edition(root, syl):
    url, branch = syllabus.student_edition(syl)
    colab = "https://colab.research.google.com/github/" + url.removeprefix("https://github.com/") + f"/blob/{branch}/"
    for module in syllabus.modules(syl):
        text = (root / module["id"] / "README.md").read_text(encoding="utf-8")
        assert "](../labs/" not in text, f"{module['id']} : un lien mène aux sources des labs (solutions)"
        badges = re.findall(r"\[!\[Ouvrir dans Colab\]\([^)]*\)\]\(([^)]+)\)", text)
        assert len(badges) == len(module["notebooks"]) + len(module["labs"]), module["id"]
        assert all(b.startswith(colab) for b in badges), module["id"]
        for lab in module["labs"]:
            (notebook,) = (root / "labs" / lab["id"]).glob("*.ipynb")
            assert f"{colab}labs/{lab['id']}/{notebook.name})" in text, lab["id"]
            assert f"]({url}/tree/{branch}/labs/{lab['id']})" in text, lab["id"]


def test_every_bible_chapter_is_placed_exactly_once(syl):
    chapters = [c for part in syl["parts"] for c in part["bible_chapters"]]
    assert sorted(chapters) == list(range(1, 39))


# --- COURSE_MAP.md: every entry is planned somewhere -----------------------------


@pytest.fixture(scope="module")
def course_map():
    if not COURSE_MAP.exists():
        pytest.skip(f"{COURSE_MAP} absent (dossier shared/ à côté du dépôt)")
    text = COURSE_MAP.read_text(encoding="utf-8")
    sections = re.split(r"^## ", text, flags=re.M)[1:]
    return {s.split()[0]: s for s in sections if re.match(r"(day|partie)-\d\d", s)}


def _chapters(heading: str) -> set[int]:
    found = set()
    match = re.search(r"ch\. ([\d,\s–-]+)", heading)
    for item in match.group(1).split(",") if match else []:
        if not item.strip():
            continue
        bounds = [int(x) for x in re.split(r"[–-]", item.strip()) if x]
        found |= set(range(bounds[0], bounds[-1] + 1))
    return found


def _module(syl, module_id):
    return next(m for m in syllabus.modules(syl) if m["id"] == module_id)


def test_course_map_modules_all_exist(course_map, syl):
    assert set(course_map) == {m["id"] for m in syllabus.modules(syl)}


def test_course_map_chapters_and_parts(course_map, syl):
    for module_id, section in course_map.items():
        if module_id.startswith("partie"):
            module = _module(syl, module_id)
            heading = section.splitlines()[0]
            assert set(module["bible_chapters"]) == _chapters(heading), module_id
            assert f"part {module['book_part']};" in heading, module_id


def test_course_map_projects_and_labs_are_planned(course_map, syl):
    for module_id, section in course_map.items():
        module = _module(syl, module_id)
        projets = {int(n) for n in re.findall(r"\*\*Projet (\d+)", section)}
        planned_projets = {p["projet"] for p in module["planned"] if p.get("projet")}
        built_projets = {lab["projet"] for lab in module["labs"] if lab.get("projet")}
        assert projets == planned_projets | built_projets, module_id
        n_labs = len(re.findall(r"\*\*Lab\*\*|^Lab:", section, flags=re.M))
        built = [lab for lab in module["labs"] if not lab.get("projet")]
        planned = [p for p in module["planned"] if p["kind"] == "lab"]
        assert len(built) + len(planned) >= n_labs, module_id


def test_course_map_hours_are_in_the_days(course_map, syl):
    for module_id, section in course_map.items():
        if module_id.startswith("day"):
            rows = re.findall(r"^\| ([0-9]{2}–[0-9]{2}|—) \|", section, flags=re.M)
            hours = [h["hours"] for h in _module(syl, module_id)["hours"]]
            assert [r.replace("–", "-") for r in rows] == hours, module_id


def test_labs_declare_the_course_models_and_server_they_use(root, syl):
    """The grader builds the declared models before grading and bridges the declared server:
    a lab that uses one without saying so would build it in a kernel, within a cell timeout."""
    uses = {
        "base": r"load_base_model|base_model_path|course/base",
        "draft": r"draft_model",
        "chat": r"load_chat_model|chat_model_path|chat_summary",
        # course_utils.drift draws its streams from the corpus embeddings
        "rag": r"rag\.(stdlib_documents|document_embeddings|question_embeddings|encode)\b|\bdrift\.\w+\(",
    }
    assert set(uses) == {*base_model.COURSE_MODELS, "rag"}  # a new course model needs its pattern here
    for lab in syllabus.labs(syl):
        source = "\n".join(c.source for c in nbformat.read(root / syllabus.lab_notebook_path(root, lab["id"]), 4).cells)
        used = sorted(name for name, pattern in uses.items() if re.search(pattern, source))
        assert sorted(lab.get("models", [])) == used, lab["id"]
        assert bool(lab.get("serve")) == ("serving." in source), lab["id"]
