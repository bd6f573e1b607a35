"""pytest plugin of ``course test``: the slowest items first, and a timing report.

Loaded with ``-p course_utils.test_report``. Slow items (lab grading, the base
model, notebooks) are collected first so that parallel workers (pytest-xdist)
start them early instead of finishing on one long tail. At the end the report
gives the total time (install included when ``bin/course`` installed in this
run), and the slowest notebooks and labs; it is also written as JSON to
``.course-work/timing.json``. Timing is reported, never asserted.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

REPORT_FILE = Path(__file__).resolve().parents[2] / ".course-work" / "timing.json"
SLOWEST = 15

_started = time.time()
_durations: dict[str, float] = {}
# nodeid -> (seconds from the run's start, worker): shows serial chains and idle workers.
_starts: dict[str, tuple[float, str]] = {}


SERVER_GROUP = "vllm-server"


def uses_server(item) -> bool:
    return any(m.args[:1] == (SERVER_GROUP,) for m in item.iter_markers("xdist_group"))


def _weight(item) -> int:
    """Collection rank: lower runs first (longest kinds of items first; the server's users together)."""
    name = item.nodeid
    if "test_lab_release_and_grades" in name or uses_server(item):
        return 0
    if item.get_closest_marker("slow") or "test_base_model" in name:
        return 1
    if name.endswith(".ipynb"):
        return 2
    return 3


def pytest_collection_modifyitems(session, config, items):
    _group_server_users(items)
    items.sort(key=_weight)  # stable: the order within each kind is kept
    _mark_xdist_groups(config, items)


def _group_server_users(items) -> None:
    """Items that use the course's vLLM server run on one worker, one after the other:
    a lab that checks the server's own counters must be its only client meanwhile, and
    the server stops after the last of them (tests/conftest.py)."""
    import pytest

    from . import syllabus

    course = syllabus.load()
    notebooks = [n["path"] for m in syllabus.modules(course) for n in m["notebooks"] if n.get("serve")]
    labs = [f"[{lab['id']}]" for lab in syllabus.labs(course) if lab.get("serve")]
    for item in items:
        name = item.nodeid
        path = name.split("::")[0]  # a notebook's item: "day-01/03-….ipynb::03-….ipynb"
        if "test_serving.py" in name or path in notebooks or any(lab in name for lab in labs):
            item.add_marker(pytest.mark.xdist_group(SERVER_GROUP))


def _mark_xdist_groups(config, items) -> None:
    """Make ``--dist loadgroup`` keep an ``xdist_group`` on one worker with pytest 9.

    pytest-xdist 3.8 tags grouped items by setting ``item._nodeid``, which pytest
    9 no longer reads (``item._id``): every test of a group could land on another
    worker, and a session fixture shared by the group was built once per worker.
    """
    try:
        from _pytest.nodeid import coerce_node_id
    except ImportError:  # pytest < 9: xdist's own tagging works
        return
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        groups = {
            str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")
        }
        if groups and "@" not in item.nodeid:
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(sorted(groups))}")


def pytest_runtest_logreport(report):
    _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration
    if report.when == "setup" and hasattr(report, "start"):
        worker = getattr(getattr(report, "node", None), "gateway", None)
        _starts[report.nodeid] = (round(report.start - _started, 1), getattr(worker, "id", "main"))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if hasattr(config, "workerinput"):  # an xdist worker: the controller reports
        return
    tests = time.time() - _started
    install = os.environ.get("COURSE_INSTALL_SECONDS")
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT") or getattr(config.option, "numprocesses", None) or 1
    slowest = sorted(_durations.items(), key=lambda kv: -kv[1])[:SLOWEST]
    write = terminalreporter.write_line
    terminalreporter.section("Rapport de temps (course test)")
    write(f"installation : {f'{float(install):.0f} s' if install else 'déjà faite (0 s dans cette exécution)'}")
    write(f"tests        : {tests:.0f} s ({workers} processus pytest)")
    write(f"total        : {tests + float(install or 0):.0f} s")
    write(f"les {len(slowest)} éléments les plus lents (notebooks, labs, tests) :")
    for nodeid, seconds in slowest:
        write(f"  {seconds:7.1f} s  {nodeid}")
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    REPORT_FILE.write_text(
        json.dumps(
            {
                "install_s": float(install) if install else None,
                "tests_s": round(tests, 1),
                "workers": int(workers),
                "items": {k: round(v, 2) for k, v in sorted(_durations.items(), key=lambda kv: -kv[1])},
                # [start (s from the run's start), worker, duration], in the order they started
                "timeline": {
                    k: [*_starts[k], round(_durations[k], 2)] for k in sorted(_starts, key=lambda k: _starts[k][0])
                },
            },
            indent=1,
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
