"""Keep library noise off stderr in the kernels that grade and run the course.

nbgrader scores 0 any test cell with output on stderr, and libraries write
there on import or first use (bitsandbytes' CPU kernel warning, transformers'
advisories, tokenizers' fork warning, progress bars). ``quiet_libraries`` runs
at kernel start-up in the grader (an IPython start-up file) and sets what the
libraries read when they are imported later.
"""

from __future__ import annotations

import logging
import os
import warnings

# Read by the libraries at import time: set before they are imported.
QUIET_ENV = {
    "PYTHONWARNINGS": "ignore",
    "TQDM_DISABLE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "DATASETS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
    "BITSANDBYTES_NOWELCOME": "1",
}
# Loggers of libraries that warn on stderr through Python's logging.
NOISY_LOGGERS = (
    "accelerate",
    "bitsandbytes",
    "datasets",
    "faiss",
    "httpx",
    "huggingface_hub",
    "langchain",
    "mcp",
    "peft",
    "sentence_transformers",
    "torch.distributed",
    "transformers",
    "trl",
    "urllib3",
)


def quiet_libraries() -> None:
    """Silence known library warnings and progress bars in this process (idempotent)."""
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    warnings.simplefilter("ignore")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def ipython_startup_file(guard: bool = False) -> str:
    """Source of an IPython start-up file that quiets the kernel before any cell runs.

    ``guard``: also keep the originals of what hidden tests rely on
    (``course_utils.grading_guard``; the grader's kernels only).
    """
    # The file runs in the notebook's namespace: it leaves no name there.
    source = "import course_utils.quiet as _course_quiet\n\n_course_quiet.quiet_libraries()\ndel _course_quiet\n"
    if guard:
        source += "import course_utils.grading_guard as _course_guard\n\n_course_guard.install()\ndel _course_guard\n"
    return source
