"""Code shared by the course notebooks and labs.

Light imports only: ``import course_utils`` must stay fast, so torch,
datasets and transformers are imported inside the functions that need them.
"""

from .checks import assert_close, assert_raises, forbid
from .figures import record
from .profiles import PROFILES, current_profile, pick
from .repro import seed_everything

__all__ = [
    "PROFILES",
    "assert_close",
    "assert_raises",
    "current_profile",
    "forbid",
    "pick",
    "record",
    "seed_everything",
]
