"""Student code runs in the grader's sandbox (graders/sandbox.py): it cannot read
the instructor's files, write outside its folder, reach the network or leave
processes behind. Each hostile copy of the tiny fixture lab is graded in one
batch with an honest copy, which keeps full marks.
"""

import subprocess

import nbformat
import pytest

import submissions as S
from course_utils import base_model
from graders import labs, sandbox
from graders.autograde import autograde
from graders.release import release

TINY = S.TINY_LAB
MARK = 987  # `sleep 987`, `sleep 986`: processes the copies start, looked for afterwards


def _leftovers(seconds: int) -> str:
    return subprocess.run(["pgrep", "-af", f"sleep {seconds}"], capture_output=True, text=True).stdout


# Session scope: computed once per worker even when the slow-first order puts
# other modules' tests between the two that use it (a module fixture would be rebuilt).
@pytest.fixture(scope="session")
def sandboxed_batch(tmp_path_factory):
    released = release([TINY], tmp_path_factory.mktemp("release"), S.FIXTURE_LABS)[TINY]
    src, rel = nbformat.read(labs.lab_notebook(TINY, S.FIXTURE_LABS), as_version=4), nbformat.read(released, 4)
    copies, out, name = tmp_path_factory.mktemp("copies"), tmp_path_factory.mktemp("graded"), released.name
    course = out / TINY / "nbgrader"  # where autograde keeps the gradebook and the source (with solutions)
    source_paths = [str(labs.lab_notebook(TINY, S.FIXTURE_LABS)), str(course / "source" / TINY / name)]
    S.write(S.solved(src, rel), copies / "honest" / name)
    # Without a sandbox, this copy scores full marks by running the instructor's solutions.
    steal = (
        "import json\n"
        f"source = json.load(open({source_paths!r}[0]))\n"
        "for cell in source['cells']:\n"
        "    if 'BEGIN SOLUTION' in ''.join(cell['source']):\n"
        "        exec(''.join(cell['source']))\n"
    )
    stealer = S.solved(src, rel, answers=[])  # the release: nothing written by the student
    S.answer_cell(stealer, "add_answer").source = steal
    S.write(stealer, copies / "stealer" / name)
    S.write(
        S.with_code_prepended(src, rel, "mean_answer", f"open({str(course / 'gradebook.db')!r}, 'w').close()"),
        copies / "vandal" / name,
    )
    network = (
        "import subprocess, urllib.request\n"
        "done = subprocess.run(['curl', '-sS', '--max-time', '5', 'http://1.1.1.1/'], capture_output=True)\n"
        "open('curl.txt', 'w').write(str(done.returncode))\n"
        "urllib.request.urlopen('http://1.1.1.1/', timeout=5)\n"
    )
    S.write(S.with_code_appended(src, rel, "add_answer", network), copies / "network" / name)
    forker = (
        "import subprocess\n"
        f"subprocess.Popen(['setsid', 'sleep', '{MARK}'])\n"
        f"subprocess.Popen(['sh', '-c', 'sleep {MARK} & sleep {MARK}'], start_new_session=True)\n"
    )
    S.write(S.with_code_appended(src, rel, "square_answer", forker), copies / "forker" / name)
    bomb = f"import subprocess\nchildren = [subprocess.Popen(['sleep', '{MARK - 1}']) for _ in range(400)]"
    S.write(S.with_code_prepended(src, rel, "scale_answer", bomb), copies / "fork_bomb" / name)
    S.write(
        S.with_code_appended(
            src, rel, "square_answer", f"open({str(labs.REPO_ROOT / 'pirate.txt')!r}, 'w').write('x')"
        ),
        copies / "writer" / name,
    )
    cache = _fresh_cache(tmp_path_factory)  # not made yet, under the /tmp that the sandbox hides
    poison = f"open({str(cache / 'poison.txt')!r}, 'w').write('x')"
    S.write(S.with_code_appended(src, rel, "mean_answer", poison), copies / "cache_poisoner" / name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(base_model.CACHE_ENV_VAR, str(cache))
        results = autograde(TINY, copies, out, cell_timeout=20, memory_mb=4096, labs_dir=S.FIXTURE_LABS)
    return {r.student: r for r in results}, out / TINY


def _fresh_cache(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "sandbox-cache" / "not-made-yet"


def _points(*grade_ids):
    return sum(
        c.metadata["nbgrader"]["points"]
        for c in nbformat.read(labs.lab_notebook(TINY, S.FIXTURE_LABS), as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("grade_id") in grade_ids
    )


FULL = _points("test_add", "test_mean", "test_square", "test_noisy")


def _sandbox_flag(result):
    return [f for f in result.flags if "bac à sable" in f]


@pytest.mark.slow
@pytest.mark.xdist_group("sandbox")
def test_honest_copy_keeps_full_marks(sandboxed_batch):
    r, _ = sandboxed_batch
    assert (r["honest"].score, r["honest"].status) == (FULL, "graded"), r["honest"]


@pytest.mark.slow
@pytest.mark.xdist_group("sandbox")
def test_instructor_source_is_out_of_reach(sandboxed_batch):
    r, _ = sandboxed_batch
    assert r["stealer"].score == 0 and r["stealer"].status == "flagged", r["stealer"]
    assert any("FileNotFoundError" in f for f in _sandbox_flag(r["stealer"]))


@pytest.mark.slow
@pytest.mark.xdist_group("sandbox")
def test_gradebook_cannot_be_touched(sandboxed_batch):
    r, lab_out = sandboxed_batch
    assert r["vandal"].score == FULL - _points("test_mean") and _sandbox_flag(r["vandal"]), r["vandal"]
    assert (lab_out / "nbgrader" / "gradebook.db").stat().st_size > 0
    # The class's grades are intact: every other copy was scored from the same gradebook.
    assert r["honest"].score == FULL and r["network"].score == FULL


@pytest.mark.slow
@pytest.mark.xdist_group("sandbox")
def test_no_network_not_even_from_a_subprocess(sandboxed_batch):
    r, lab_out = sandboxed_batch
    assert r["network"].score == FULL and any("unreachable" in f for f in _sandbox_flag(r["network"])), r["network"]
    curl = lab_out / "nbgrader" / "autograded" / "network" / TINY / "curl.txt"
    assert curl.read_text() == "7", "curl n'a pas pu se connecter"


@pytest.mark.slow
@pytest.mark.xdist_group("sandbox")
def test_no_process_left_behind_and_a_process_limit(sandboxed_batch):
    r, _ = sandboxed_batch
    assert r["forker"].score == FULL, r["forker"]
    assert _leftovers(MARK) == "" and _leftovers(MARK - 1) == ""
    assert r["fork_bomb"].score == FULL - _points("test_noisy"), r["fork_bomb"]
    assert any("Resource temporarily unavailable" in f for f in _sandbox_flag(r["fork_bomb"]))


@pytest.mark.slow
@pytest.mark.xdist_group("sandbox")
def test_no_write_outside_its_folder(sandboxed_batch):
    r, lab_out = sandboxed_batch
    assert not (labs.REPO_ROOT / "pirate.txt").exists()
    assert r["writer"].score == FULL and _sandbox_flag(r["writer"]), r["writer"]
    # What the sandbox's user wrote is given back to the grader.
    folder = lab_out / "nbgrader" / "autograded" / "writer"
    assert all(p.stat().st_uid == 0 for p in [folder, *folder.rglob("*")])


@pytest.mark.slow
@pytest.mark.xdist_group("sandbox")
def test_course_cache_is_read_and_written_privately(sandboxed_batch, tmp_path_factory):
    r, _ = sandboxed_batch
    # A copy may build what the course cache lacks (a tokenizer, a model), in a layer of its own,
    # even when the cache did not exist yet (the grader makes it before hiding /tmp).
    assert (r["cache_poisoner"].score, r["cache_poisoner"].status) == (FULL, "graded"), r["cache_poisoner"]
    assert _fresh_cache(tmp_path_factory).is_dir()
    assert not (_fresh_cache(tmp_path_factory) / "poison.txt").exists()


def test_grading_refuses_without_a_sandbox(monkeypatch, tmp_path):
    def unavailable():
        raise sandbox.SandboxUnavailable("pas d'espaces de noms ici")

    monkeypatch.setattr(sandbox, "check_available", unavailable)
    (tmp_path / "copies").mkdir()
    with pytest.raises(labs.GradingError, match="--unsafe"):
        autograde(TINY, tmp_path / "copies", tmp_path / "out", labs_dir=S.FIXTURE_LABS)


def test_the_launcher_starts_only_where_the_grader_said(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COURSE_SANDBOX_SCRATCH_ROOT", str(tmp_path / "autograded"))
    monkeypatch.setenv("COURSE_SANDBOX_RUNTIME", str(tmp_path / "runtime"))
    with pytest.raises(SystemExit, match="non annoncé"):
        sandbox.main(["--", "python", "-m", "ipykernel_launcher", "-f", str(tmp_path / "runtime" / "k.json")])
    assert tmp_path.stat().st_uid == 0


def test_course_cache_entries_are_readable_by_the_sandbox_user(tmp_path, monkeypatch):
    """A model or tokenizer built in the cache (by a chapter, a test, the instructor) can be read when grading."""
    import stat

    from graders.autograde import readable_cache

    monkeypatch.setenv(base_model.CACHE_ENV_VAR, str(tmp_path / "cache"))
    built = base_model._build_once("entry", lambda folder: (folder / "f.txt").write_text("x"))
    assert stat.S_IMODE(built.stat().st_mode) & 0o055 == 0o055
    private = tmp_path / "cache" / "older-entry"
    private.mkdir(mode=0o700)
    readable_cache(tmp_path / "cache")
    assert stat.S_IMODE(private.stat().st_mode) & 0o055 == 0o055
    assert readable_cache(tmp_path / "new-cache").is_dir()
