"""Determinism: one call seeds every random number generator the course uses."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int = 0) -> np.random.Generator:
    """Seed python, numpy and torch; return a fresh numpy ``Generator``.

    On CPU this makes two runs of the same notebook record the same figures.
    """
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses started later
    try:
        import torch
    except ImportError:  # torch is optional for the lightest notebooks
        pass
    else:
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    return np.random.default_rng(seed)
