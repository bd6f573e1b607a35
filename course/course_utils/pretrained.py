"""Reading models saved in the Hugging Face format, without noise on stderr.

The lowest layer of the course's model loading: :mod:`.models` (hub names,
course models) and :mod:`.base_model` (the course's pretrained model) both
build on it, and it imports neither of them.
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def quiet_loading():
    """No 'Loading weights' bar on stderr: it would zero a graded nbgrader cell."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def load_pretrained(source: str, **options):
    """Return ``(model, tokenizer)`` in eval mode: ``AutoModelForCausalLM`` and ``AutoTokenizer`` of ``source``.

    ``source`` is a folder written by ``save_pretrained`` or a hub name;
    ``options`` go to both ``from_pretrained`` calls (``local_files_only=True``…).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with quiet_loading():
        tokenizer = AutoTokenizer.from_pretrained(source, **options)
        model = AutoModelForCausalLM.from_pretrained(source, **options)
    return model.eval(), tokenizer
