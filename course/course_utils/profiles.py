"""Run profiles: one notebook, three sizes.

- ``ci``: minutes on 2 CPU cores, no network (CI and grading);
- ``cpu``: a student laptop, longer runs and better results;
- ``gpu``: one GPU, real sizes.

A notebook declares its sizes once, in a dict keyed by profile, and calls
:func:`pick`. The profile comes from the papermill parameter ``PROFILE`` when
given, else from the ``COURSE_PROFILE`` environment variable, else ``cpu``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

PROFILES = ("ci", "cpu", "gpu")
DEFAULT_PROFILE = "cpu"
ENV_VAR = "COURSE_PROFILE"


class ProfileError(ValueError):
    """An unknown profile or an inconsistent table of sizes."""


def current_profile(override: str | None = None) -> str:
    """Return the active profile name, validated."""
    name = override or os.environ.get(ENV_VAR) or DEFAULT_PROFILE
    name = name.strip().lower()
    if name not in PROFILES:
        raise ProfileError(
            f"Profil inconnu : {name!r}. Choisissez parmi {', '.join(PROFILES)} "
            f"(paramètre PROFILE ou variable d'environnement {ENV_VAR})."
        )
    return name


def pick(sizes: Mapping[str, Mapping[str, Any]], profile: str | None = None) -> SimpleNamespace:
    """Select the sizes of the active profile.

    Every profile must define the same keys, so that a notebook cannot work
    under one profile and break under another for lack of a setting.
    """
    missing = [p for p in PROFILES if p not in sizes]
    if missing:
        raise ProfileError(f"Tailles manquantes pour le(s) profil(s) : {', '.join(missing)}.")
    keys = {p: set(sizes[p]) for p in PROFILES}
    reference = keys[PROFILES[0]]
    for p in PROFILES[1:]:
        if keys[p] != reference:
            diff = sorted(keys[p] ^ reference)
            raise ProfileError(f"Le profil {p!r} ne définit pas les mêmes réglages que {PROFILES[0]!r} : {diff}.")
    name = current_profile(profile)
    return SimpleNamespace(profile=name, **sizes[name])
