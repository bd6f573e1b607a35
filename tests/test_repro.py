import random

import numpy as np
import torch

from course_utils import seed_everything


def draw(seed):
    rng = seed_everything(seed)
    return random.random(), np.random.rand(), rng.normal(), torch.randn(3).tolist()


def test_same_seed_same_numbers():
    assert draw(7) == draw(7)


def test_other_seed_other_numbers():
    assert draw(7) != draw(8)
