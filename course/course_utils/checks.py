"""Assertions for lab tests.

Messages are in French and say *what* is wrong (shape, dtype, how many values
are off and by how much) without printing the expected values, so that a
failing visible test does not hand out the answer.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

import numpy as np


def _as_array(value: Any, what: str) -> np.ndarray:
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            value = value.float()
        value = value.numpy()
    try:
        return np.asarray(value)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise AssertionError(f"{what} : impossible de convertir le résultat en tableau ({exc}).") from None


def assert_close(
    actual: Any,
    expected: Any,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    name: str = "le résultat",
    equal_nan: bool = True,
) -> None:
    """Check ``|actual - expected| <= atol + rtol * |expected|`` elementwise.

    ``inf`` must match ``inf`` of the same sign; ``nan`` matches ``nan`` when
    ``equal_nan`` is true.
    """
    if actual is None:
        raise AssertionError(f"{name} : la fonction a renvoyé None (oubli d'un `return` ?).")
    a = _as_array(actual, name)
    e = _as_array(expected, name)
    if a.shape != e.shape:
        raise AssertionError(f"{name} : forme {tuple(a.shape)}, attendue {tuple(e.shape)}.")
    if a.dtype.kind not in "biuf" or e.dtype.kind not in "biuf":
        if not np.array_equal(a, e):
            raise AssertionError(f"{name} : le résultat diffère de la référence.")
        return
    a = a.astype(np.float64)
    e = e.astype(np.float64)
    ok = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=equal_nan)
    if ok.all():
        return
    bad = int((~ok).sum())
    if np.isnan(a[~ok]).any():
        detail = "des NaN apparaissent là où la référence est finie (instabilité numérique ?)"
    elif np.isinf(a[~ok]).any() or np.isinf(e[~ok]).any():
        detail = "des valeurs infinies ne correspondent pas à la référence"
    else:
        finite = ~ok & np.isfinite(a) & np.isfinite(e)
        worst = float(np.max(np.abs(a[finite] - e[finite]))) if finite.any() else float("nan")
        detail = f"écart maximal {worst:.3g} (tolérance rtol={rtol:g}, atol={atol:g})"
    raise AssertionError(f"{name} : {bad} valeur(s) sur {a.size} s'écartent de la référence ; {detail}.")


def assert_raises(
    exception: type[BaseException], func: Callable[..., Any], *args: Any, name: str = "", **kwargs: Any
) -> None:
    """Check that ``func(*args, **kwargs)`` raises ``exception`` with a message."""
    label = name or getattr(func, "__name__", "la fonction")
    try:
        func(*args, **kwargs)
    except exception as exc:
        if not str(exc).strip():
            raise AssertionError(
                f"{label} : l'erreur {exception.__name__} doit expliquer le problème (message vide)."
            ) from None
        return
    except Exception as exc:
        raise AssertionError(f"{label} : erreur attendue {exception.__name__}, obtenue {type(exc).__name__}.") from None
    raise AssertionError(f"{label} : une entrée invalide aurait dû lever {exception.__name__}.")


@contextmanager
def forbid(*targets: str):
    """Make the named functions raise while the block runs.

    ``with forbid("torch.nn.functional.cross_entropy"): student_fn(x)`` fails
    if the student's code calls the library instead of implementing it.
    Targets are dotted paths to an attribute of a module or a class.
    """
    patched = []
    try:
        for target in targets:
            owner_path, attr = target.rsplit(".", 1)
            owner = _resolve(owner_path)
            getattr(owner, attr)  # fails early on a wrong name
            # The raw attribute, so that a staticmethod or classmethod comes back as itself;
            # None when a class inherits it (then deleting our patch restores it).
            original = vars(owner).get(attr)

            def refuse(*args, _target=target, **kwargs):
                raise AssertionError(f"{_target} est interdit dans cet exercice : implémentez le calcul vous-même.")

            setattr(owner, attr, refuse)
            patched.append((owner, attr, original))
        yield
    finally:
        for owner, attr, original in reversed(patched):
            if original is None:
                delattr(owner, attr)
            else:
                setattr(owner, attr, original)


def _resolve(dotted: str):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ValueError(f"Cible introuvable : {dotted}")
