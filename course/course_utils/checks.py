"""Assertions for lab tests.

Messages are in French and say *what* is wrong (shape, dtype, how many values
are off and by how much) without printing the expected values, so that a
failing visible test does not hand out the answer.

Two families of checks resist a submission that tries to game them:

* ``assert_close`` only accepts plain values (numbers, strings, NumPy arrays of
  numbers, torch tensors and their lists); an object that claims to equal
  anything (``__eq__``, ``__array__``, a tensor or array subclass) is refused, and
  the comparison uses functions captured when this module is imported (before
  any student cell runs: ``course_utils`` imports it in the locked setup cell).
* ``forbid`` catches a forbidden function however it is reached: by its
  identity (every alias, a reference captured before the block, ``getattr``
  with a computed name), at the operator level for torch operations (method
  form, ``torch.special``, ``torch.ops.aten``, C++ decompositions), and by a
  static scan of the notebook functions that ran in the block. ``forbid_in``
  runs the static scan alone.

Light imports only: torch is never imported here; it is used when the caller
already has.
"""

from __future__ import annotations

import builtins
import dis
import functools
import importlib
import inspect
import os
import sys
import threading
import types
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

# ---------------------------------------------------------------------------
# Trusted functions, captured at import. NumPy ufuncs and ndarray methods are C
# objects whose attributes cannot be reassigned; torch's are captured from the
# C base class of tensors (immutable too) the first time torch is seen.
# ---------------------------------------------------------------------------
_NDARRAY = np.ndarray
_ARRAY = np.array
_ABS, _SUB, _MUL, _ADD = np.absolute, np.subtract, np.multiply, np.add
_LE, _EQ, _NE = np.less_equal, np.equal, np.not_equal
_ISNAN, _ISINF, _ISFINITE = np.isnan, np.isinf, np.isfinite
_AND, _OR, _NOT = np.logical_and, np.logical_or, np.logical_not
_ALL, _SUM, _MAX = _NDARRAY.all, _NDARRAY.sum, _NDARRAY.max
_ASTYPE, _RESHAPE = _NDARRAY.astype, _NDARRAY.reshape
_FLOAT64 = np.float64
_NP_SCALARS = frozenset(np.dtype(code).type for code in "?bBhHiIlLqQefdgFDG")
_PLAIN_SCALARS = (bool, int, float)
_LIST_TYPES = (list, tuple)
_TORCH: dict[str, Any] = {}


def _torch_api() -> dict[str, Any]:
    """torch's tensor types and the methods used to convert a tensor, captured once."""
    if not _TORCH and "torch" in sys.modules:
        torch = sys.modules["torch"]
        base = torch._C.TensorBase
        _TORCH.update(
            types=(torch.Tensor, torch.nn.Parameter),
            detach=base.detach,
            cpu=base.cpu,
            numpy=base.numpy,
            float=base.float,
            resolve_conj=base.resolve_conj,
            resolve_neg=base.resolve_neg,
            dtype=base.dtype.__get__,
            layout=base.layout.__get__,
            low_precision=(torch.bfloat16, torch.float16),
            strided=torch.strided,
        )
    return _TORCH


_torch_api()  # torch is usually imported before course_utils in the setup cell


def _refuse(what: str, value: Any, reason: str) -> AssertionError:
    return AssertionError(f"{what} : {reason} (type reçu : {type(value).__name__}).")


def _as_array(value: Any, what: str) -> np.ndarray:
    """Convert a plain value to a NumPy array without trusting the value's own methods."""
    kind = type(value)
    if kind is _NDARRAY:
        array = value
    elif kind in _PLAIN_SCALARS or kind in _NP_SCALARS or kind is str or kind is bytes:
        array = _ARRAY(value)
    elif kind in _LIST_TYPES:
        items = [_as_array(item, what) for item in value]
        try:
            array = _ARRAY(items) if items else _ARRAY([], dtype=_FLOAT64)
        except ValueError:
            raise AssertionError(f"{what} : liste de formes irrégulières, impossible d'en faire un tableau.") from None
    else:
        api = _torch_api()
        if not api or kind not in api["types"]:
            if api and isinstance(value, api["types"]):
                raise _refuse(what, value, "sous-classe de tenseur refusée, renvoyez un torch.Tensor ordinaire")
            if isinstance(value, _NDARRAY):
                raise _refuse(what, value, "sous-classe de tableau NumPy refusée, renvoyez un np.ndarray ordinaire")
            raise _refuse(what, value, "renvoyez un nombre, un tableau NumPy, un tenseur torch ou une liste de nombres")
        if api["layout"](value) is not api["strided"]:
            raise _refuse(what, value, "tenseur creux (sparse) refusé, renvoyez un tenseur dense")
        tensor = api["cpu"](api["detach"](value))
        tensor = api["resolve_neg"](api["resolve_conj"](tensor))
        if api["dtype"](tensor) in api["low_precision"]:
            tensor = api["float"](tensor)
        array = api["numpy"](tensor)
    if array.dtype.kind == "O":
        raise _refuse(what, value, "tableau d'objets (dtype object) refusé : seuls les nombres sont comparés")
    if array.dtype.kind not in "biufcUS":
        raise _refuse(what, value, f"type d'éléments non comparable ({array.dtype})")
    return array


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
    ``equal_nan`` is true. Both sides must be plain values: numbers (``bool``,
    ``int``, ``float``, NumPy scalars), ``str``/``bytes``, ``np.ndarray`` of
    numbers, ``torch.Tensor``/``nn.Parameter``, or lists and tuples of those.
    """
    if actual is None:
        raise AssertionError(f"{name} : la fonction a renvoyé None (oubli d'un `return` ?).")
    a = _as_array(actual, name)
    e = _as_array(expected, name)
    if a.shape != e.shape:
        raise AssertionError(f"{name} : forme {tuple(a.shape)}, attendue {tuple(e.shape)}.")
    a, e = _RESHAPE(a, -1), _RESHAPE(e, -1)  # 1-D: the ufuncs then return arrays, never scalars
    if a.dtype.kind not in "biuf" or e.dtype.kind not in "biuf":
        same = a.dtype.kind == e.dtype.kind or (a.dtype.kind in "biufc" and e.dtype.kind in "biufc")
        if not (same and bool(_ALL(_EQ(a, e)))):
            raise AssertionError(f"{name} : le résultat diffère de la référence.")
        return
    a = _ASTYPE(a, _FLOAT64)
    e = _ASTYPE(e, _FLOAT64)
    with np.errstate(invalid="ignore", over="ignore"):
        finite = _AND(_ISFINITE(a), _ISFINITE(e))
        ok = _AND(finite, _LE(_ABS(_SUB(a, e)), _ADD(atol, _MUL(rtol, _ABS(e)))))
        ok = _OR(ok, _AND(_AND(_ISINF(a), _ISINF(e)), _EQ(a, e)))
        if equal_nan:
            ok = _OR(ok, _AND(_ISNAN(a), _ISNAN(e)))
    if bool(_ALL(ok)):
        return
    bad = _NOT(ok)
    n_bad = int(_SUM(bad))
    if bool(_ALL(_OR(_NOT(bad), _NOT(_ISNAN(a))))) is False:
        detail = "des NaN apparaissent là où la référence est finie (instabilité numérique ?)"
    elif bool(_ALL(_OR(_NOT(bad), finite))) is False:
        detail = "des valeurs infinies ne correspondent pas à la référence"
    else:
        worst = float(_MAX(_ABS(_SUB(a[bad], e[bad]))))
        detail = f"écart maximal {worst:.3g} (tolérance rtol={rtol:g}, atol={atol:g})"
    raise AssertionError(f"{name} : {n_bad} valeur(s) sur {a.size} s'écartent de la référence ; {detail}.")


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


# ---------------------------------------------------------------------------
# Forbidden functions
# ---------------------------------------------------------------------------
_MISSING = object()
_UNKNOWN = object()
_BUILTIN = types.BuiltinFunctionType  # also the type of bound C methods
# Torch operators whose kernels have other names than the Python function (aten names, without "aten::").
_ATEN_EXTRA = {
    "scaled_dot_product_attention": ("_scaled_dot_product_*",),
    "cross_entropy": ("cross_entropy_loss",),
    "nll_loss": ("nll_loss2d_forward", "nll_loss_nd"),
    "conv2d": ("convolution", "_convolution", "mkldnn_convolution", "_slow_conv2d_forward", "thnn_conv2d"),
    "conv1d": ("convolution", "_convolution", "mkldnn_convolution"),
}
_ATEN_PREFIXES = ("_", "special_", "linalg_", "_fused_", "_safe_", "_masked_", "_sparse_")
_TORCH_NAMESPACES = (
    "torch",
    "torch.nn.functional",
    "torch.special",
    "torch.linalg",
    "torch.functional",
    "torch._C._VariableFunctions",
    "torch._C._nn",
    "torch._C._special",
    "torch._C._linalg",
)
# Calls that reach an attribute or a module by a computed name.
_DYNAMIC_NAMES = {("builtins", n) for n in ("getattr", "vars", "eval", "exec", "compile", "__import__", "globals")}
_DYNAMIC_NAMES |= {
    ("importlib", "import_module"),
    ("importlib", "__import__"),
    ("operator", "attrgetter"),
    ("operator", "methodcaller"),
    ("inspect", "getattr_static"),
}
_ALWAYS_DYNAMIC = {"eval", "exec", "compile", "__import__", "import_module"}
# What switches the checks off.
_TAMPER_NAMES = {
    ("sys", "setprofile"),
    ("sys", "settrace"),
    ("threading", "setprofile"),
    ("threading", "settrace"),
    ("torch._C", "_DisableTorchDispatch"),
    ("torch._C", "DisableTorchFunction"),
    ("torch._C", "DisableTorchFunctionSubclass"),
    ("torch._C", "_unset_dispatch_mode"),
    ("torch.utils._python_dispatch", "_disable_current_modes"),
    ("torch.utils._python_dispatch", "_pop_mode"),
    ("torch.utils._python_dispatch", "_pop_mode_temporarily"),
    ("torch._C", "_pop_torch_dispatch_stack"),
}
_TAMPER_ATTRS = {"__code__", "__globals__", "__builtins__"}


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


def _codes_of(obj: Any, _depth: int = 0) -> list[types.CodeType]:
    """Code objects that run when ``obj`` is called (through wrappers, descriptors, NumPy dispatchers)."""
    if _depth > 8 or obj is None or isinstance(obj, (types.ModuleType, type)):
        return []
    codes = []
    if isinstance(obj, (staticmethod, classmethod, types.MethodType)):
        codes += _codes_of(obj.__func__, _depth + 1)
    elif isinstance(obj, property):
        for accessor in (obj.fget, obj.fset, obj.fdel):
            codes += _codes_of(accessor, _depth + 1)
    elif isinstance(obj, functools.partial):
        codes += _codes_of(obj.func, _depth + 1)
    elif isinstance(obj, types.FunctionType):
        wrapped = obj.__dict__.get("__wrapped__")
        if wrapped is not None and wrapped is not obj:
            # Only what it wraps: a decorator's wrapper code is shared by every function it
            # decorates (torch.no_grad's, functools.wraps'), so it would flag them all.
            codes += _codes_of(wrapped, _depth + 1)
        else:
            codes.append(obj.__code__)
    elif type(obj).__name__ == "_ArrayFunctionDispatcher":  # NumPy's public functions wrap a Python implementation
        codes += _codes_of(getattr(obj, "_implementation", None), _depth + 1)
    return codes


def _accessors(value: Any) -> list[Any]:
    """The functions behind a class attribute (method, static or class method, property)."""
    if isinstance(value, (staticmethod, classmethod)):
        return [value.__func__]
    if isinstance(value, property):
        return [f for f in (value.fget, value.fset, value.fdel) if f is not None]
    return [value] if isinstance(value, types.FunctionType) else []


def _safe_attr(obj: Any, name: str) -> Any:
    """An attribute of a module or a class, without running the object's code; _UNKNOWN otherwise."""
    if isinstance(obj, types.ModuleType):
        value = obj.__dict__.get(name, _MISSING)
        if value is _MISSING:
            value = sys.modules.get(f"{obj.__name__}.{name}", _UNKNOWN)
        return value
    if isinstance(obj, type):
        value = inspect.getattr_static(obj, name, _UNKNOWN)
        return value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
    return _UNKNOWN


class _Rules:
    """What a set of targets forbids, in the forms the detectors look for."""

    def __init__(self, targets: Iterable[str], ops: Iterable[str] = ()):
        self.codes: dict[types.CodeType, str] = {}
        self.objects: dict[int, tuple[Any, str]] = {}
        self.methods: dict[str, list[tuple[type, str]]] = {}
        self.files: list[tuple[str, str]] = []
        self.modules: dict[str, str] = {}
        self.aten: dict[str, str] = {}
        self.related: dict[int, Any] = {}
        for target in targets:
            if not isinstance(target, str) or not target:
                raise ValueError(f"Cible invalide : {target!r} (un chemin pointé, par exemple 'torch.logsumexp')")
            self._add(target, _resolve(target))
        for op in ops:
            self.aten[op.removeprefix("aten::").split(".")[0]] = op
        self.prefixes = tuple(prefix for prefix, _ in self.files)

    def _relate(self, obj: Any) -> None:
        if isinstance(obj, (types.ModuleType, type)):
            self.related[id(obj)] = obj

    def _object(self, obj: Any, label: str) -> None:
        self.objects.setdefault(id(obj), (obj, label))
        for code in _codes_of(obj):
            self.codes.setdefault(code, label)
        if type(obj).__name__ in ("method_descriptor", "wrapper_descriptor", "getset_descriptor"):
            owner = getattr(obj, "__objclass__", None)
            if owner is not None:
                self.methods.setdefault(obj.__name__, []).append((owner, label))

    def _add(self, target: str, obj: Any) -> None:
        parts = target.split(".")
        for cut in range(1, len(parts)):
            try:
                self._relate(_resolve(".".join(parts[:cut])))
            except (ValueError, AttributeError):
                pass
        if isinstance(obj, types.ModuleType):
            self.modules[obj.__name__] = target
            self._relate(obj)
            where = getattr(obj, "__file__", None)
            if where and os.path.basename(where).startswith("__init__."):
                self.files.append((os.path.dirname(where) + os.sep, target))
            elif where:
                self.files.append((where, target))
            else:
                self.files += [(path + os.sep, target) for path in getattr(obj, "__path__", [])]
            return
        if isinstance(obj, type):
            self._relate(obj)
            self.objects.setdefault(id(obj), (obj, target))
            for value in vars(obj).values():
                if callable(value) or isinstance(value, (staticmethod, classmethod, property)):
                    self._object(value, target)
            return
        self._object(obj, target)
        owner = sys.modules.get(getattr(obj, "__module__", None) or "")
        self._relate(owner)
        self._torch_aliases(obj, target)

    def _torch_aliases(self, obj: Any, label: str) -> None:
        """Every public alias of a torch operator, its method form, and its aten kernels."""
        torch = sys.modules.get("torch")
        if torch is None:
            return
        module = getattr(obj, "__module__", None) or ""
        objclass = getattr(obj, "__objclass__", None)
        is_op = (
            (isinstance(obj, _BUILTIN) and (module.startswith("torch") or module == ""))
            or (objclass is torch._C.TensorBase)
            or (isinstance(obj, types.FunctionType) and module in ("torch.nn.functional", "torch.functional"))
        )
        if not is_op:
            return
        name = getattr(obj, "__name__", "")
        for prefix in ("special_", "linalg_"):
            name = name.removeprefix(prefix)
        if not name:
            return
        spaces = [sys.modules.get(space) for space in _TORCH_NAMESPACES]
        for space in [s for s in spaces if s is not None]:
            self._relate(space)
            for key in (name, "special_" + name, "linalg_" + name):
                alias = space.__dict__.get(key)
                if alias is not None and callable(alias):
                    self._object(alias, label)
        base = torch._C.TensorBase
        self._relate(base)
        self._relate(torch.Tensor)
        for key in (name, name + "_"):
            method = base.__dict__.get(key)
            if method is not None:
                self._object(method, label)
        wanted = {name, name + "_forward", "_" + name + "_forward"} | {p + name for p in _ATEN_PREFIXES}
        wanted |= set(_ATEN_EXTRA.get(name, ()))
        for full in torch._C._dispatch_get_all_op_names():
            space, _, op = full.partition("::")
            op = op.split(".")[0]
            if space != "aten" or "backward" in op:
                continue
            if op in wanted or any(w.endswith("*") and op.startswith(w[:-1]) for w in wanted):
                self.aten.setdefault(op, label)

    # -- verdicts --------------------------------------------------------------
    def label_of(self, obj: Any) -> str | None:
        """The target that forbids ``obj`` (an object found in code or called), or None."""
        hit = self.objects.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        for code in _codes_of(obj):
            if code in self.codes:
                return self.codes[code]
        if self.modules:
            if isinstance(obj, types.ModuleType):
                qualified = obj.__name__
            else:
                try:
                    qualified = getattr(obj, "__module__", None)
                except Exception:  # pragma: no cover - exotic objects
                    qualified = None
                qualified = qualified if isinstance(qualified, str) else ""
            for module, label in self.modules.items():
                if qualified == module or qualified.startswith(module + "."):
                    return label
        return None

    def method_label(self, name: str, receiver: Any = _UNKNOWN) -> str | None:
        for owner, label in self.methods.get(name, ()):
            if receiver is _UNKNOWN or isinstance(receiver, owner):
                return label
        return None

    def tensor_method_label(self, name: str) -> str | None:
        torch = sys.modules.get("torch")
        for owner, label in self.methods.get(name, ()):
            if torch is not None and owner is torch._C.TensorBase:
                return label
        return None


def _message(label: str, detail: str) -> str:
    return f"{label} est interdit dans cet exercice : implémentez le calcul vous-même ({detail})."


def _describe(obj: Any) -> str:
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__name__
    if owner is not None and not isinstance(owner, types.ModuleType):
        return f"{type(owner).__name__}.{getattr(obj, '__name__', name)}"
    module = getattr(obj, "__module__", None)
    return f"{module}.{name}" if isinstance(module, str) and module else str(name)


# -- static scan ---------------------------------------------------------------
_CHAIN_SKIP = {"EXTENDED_ARG", "CACHE", "NOP", "PUSH_NULL", "RESUME", "COPY_FREE_VARS", "MAKE_CELL", "KW_NAMES"}
_CHAIN_START = {"LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLASSDEREF", "LOAD_FROM_DICT_OR_GLOBALS"}
_CHAIN_EXTEND = {"LOAD_ATTR", "LOAD_METHOD"}


def _named(obj: Any, pairs: set[tuple[str, str]]) -> str | None:
    """``module.name`` if ``obj`` is one of the named module attributes in ``pairs``."""
    for module, name in pairs:
        owner = sys.modules.get(module)
        if owner is not None and owner.__dict__.get(name, _MISSING) is obj:
            return name
    return None


class _Scanner:
    """Static scan of notebook functions: names, attribute chains, imports and computed attribute names."""

    def __init__(self, rules: _Rules):
        self.rules = rules
        self.findings: list[str] = []
        self.seen: set[types.CodeType] = set()

    def scan_object(self, obj: Any, explicit: bool = False) -> None:
        """Scan a notebook function, method or class (any of them when ``explicit``: passed to ``forbid_in``)."""
        if isinstance(obj, type):
            for value in vars(obj).values():
                for accessor in _accessors(value):
                    self.scan_object(accessor, explicit)
            return
        func = obj.__func__ if isinstance(obj, types.MethodType) else obj
        func = inspect.unwrap(func) if isinstance(func, types.FunctionType) else func
        if not isinstance(func, types.FunctionType):
            return  # instances and C functions: nothing to read (their class is scanned when it is named)
        if explicit or func.__globals__.get("__name__") == "__main__":
            self.scan_code(func.__code__, func.__globals__, func.__closure__)

    def _where(self, code: types.CodeType) -> str:
        return f"dans `{getattr(code, 'co_qualname', code.co_name)}`"

    def _flag(self, label: str, what: str, code: types.CodeType) -> None:
        text = _message(label, f"{what} {self._where(code)}")
        if text not in self.findings:
            self.findings.append(text)

    def _flag_dynamic(self, what: str, code: types.CodeType) -> None:
        text = (
            f"accès dynamique interdit dans cet exercice ({what} {self._where(code)}) : appelez les fonctions "
            "par leur nom, sans getattr, eval ni import calculé."
        )
        if text not in self.findings:
            self.findings.append(text)

    def _check(self, obj: Any, what: str, code: types.CodeType) -> None:
        if obj is _UNKNOWN or obj is _MISSING:
            return
        label = self.rules.label_of(obj)
        if label is not None:
            self._flag(label, what, code)
            return
        tamper = _named(obj, _TAMPER_NAMES)
        if tamper is not None:
            self.findings.append(
                f"désactiver le contrôle des fonctions interdites est interdit ({what} {self._where(code)})."
            )
            return
        try:
            in_notebook = getattr(obj, "__module__", None) == "__main__"
        except Exception:  # pragma: no cover - an object whose attributes run code
            in_notebook = False
        if in_notebook:
            self.scan_object(obj)

    def scan_code(self, code: types.CodeType, globals_: dict | None, closure: tuple | None) -> None:
        if code in self.seen:
            return
        self.seen.add(code)
        globals_ = globals_ if globals_ is not None else {}
        builtins_ns = globals_.get("__builtins__", builtins)
        builtins_ns = builtins_ns.__dict__ if isinstance(builtins_ns, types.ModuleType) else builtins_ns
        cells = {}
        if closure:
            for name, cell in zip(code.co_freevars, closure, strict=False):
                try:
                    cells[name] = cell.cell_contents
                except ValueError:
                    pass
        instructions = [ins for ins in dis.get_instructions(code) if ins.opname not in _CHAIN_SKIP]
        current, path, dynamic = None, "", None
        import_base, import_walk = _UNKNOWN, False
        local_values: dict[str, tuple[Any, str]] = {}  # x = <resolved chain> or an import, inside the function
        for index, ins in enumerate(instructions):
            op, arg = ins.opname, ins.argval
            if op in ("STORE_FAST", "STORE_DEREF", "STORE_NAME"):
                if current is not None and current is not _UNKNOWN and dynamic is None:
                    local_values[arg] = (current, path)
                else:
                    local_values.pop(arg, None)
            if op in _CHAIN_START or op == "IMPORT_NAME":
                if current is not None and dynamic is not None:
                    self._dynamic_end(dynamic, current, path, instructions, index, code)
                    dynamic = None
                if op == "IMPORT_NAME":
                    # `import a.b as c` pushes `a` then walks with IMPORT_FROM; `from a.b import c` pushes `a.b`
                    before = instructions[index - 1] if index else None
                    fromlist = before.argval if before is not None and before.opname == "LOAD_CONST" else None
                    name = arg if fromlist else arg.split(".")[0]
                    current, path = sys.modules.get(name, _UNKNOWN), name
                    import_base, import_walk = current, not fromlist
                elif op in ("LOAD_DEREF", "LOAD_CLASSDEREF"):
                    current, path = cells.get(arg, _UNKNOWN), arg
                else:
                    value = globals_.get(arg, _MISSING)
                    current = builtins_ns.get(arg, _UNKNOWN) if value is _MISSING else value
                    path = arg
                self._check(current, f"`{path}`", code)
                kind = _named(current, _DYNAMIC_NAMES)
                if kind in _ALWAYS_DYNAMIC:
                    self._flag_dynamic(f"`{path}`", code)
                elif kind is not None and dynamic is None:
                    dynamic = kind
                    current = None
                continue
            if op in _CHAIN_EXTEND or op == "IMPORT_FROM":
                if op == "IMPORT_FROM":
                    value = _safe_attr(import_base, arg) if import_base is not _UNKNOWN else _UNKNOWN
                    where = f"{getattr(import_base, '__name__', '?')}.{arg}"
                    self._check(value, f"`{where}`", code)
                    current, path = value, where
                    if import_walk:
                        import_base = value
                    continue
                if arg in _TAMPER_ATTRS:
                    self.findings.append(f"manipuler `{arg}` est interdit dans cet exercice ({self._where(code)}).")
                base = current if current is not None else _UNKNOWN
                label = self.rules.tensor_method_label(arg)
                if base is _UNKNOWN and label is not None:
                    self._flag(label, f"`.{arg}(...)`", code)
                if base is not _UNKNOWN and id(base) in self.rules.related and arg in ("__dict__", "__getattribute__"):
                    self._flag_dynamic(f"`{path}.{arg}`", code)
                current = _safe_attr(base, arg) if base is not _UNKNOWN else _UNKNOWN
                path = f"{path}.{arg}"
                self._check(current, f"`{path}`", code)
                continue
            if dynamic is not None and current is not None:
                self._dynamic_end(dynamic, current, path, instructions, index, code)
                dynamic = None
            current = None
            if op.startswith("LOAD_FAST"):
                current, path = local_values.get(arg, (_UNKNOWN, arg))
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.scan_code(const, globals_, None)

    def _dynamic_end(self, kind, obj, path, instructions, index, code) -> None:
        """The object passed to getattr/vars/attrgetter was ``obj``: is the attribute name computed?"""
        if obj is _UNKNOWN or id(obj) not in self.rules.related and self.rules.label_of(obj) is None:
            return
        if kind == "vars":
            self._flag_dynamic(f"`vars({path})`", code)
            return
        ins = instructions[index]
        after = instructions[index + 1].opname if index + 1 < len(instructions) else ""
        if ins.opname == "LOAD_CONST" and isinstance(ins.argval, str) and after in ("PRECALL", "CALL"):
            self._check(_safe_attr(obj, ins.argval), f"`getattr({path}, {ins.argval!r})`", code)
        else:
            self._flag_dynamic(f"`{kind}({path}, …)` avec un nom calculé", code)


def forbid_in(functions: Any, *targets: str, ops: Iterable[str] = ()) -> None:
    """Statically check that ``functions`` (a function, a class, or a list of them) never reach ``targets``.

    Names, attribute chains (``G.cross_entropy`` with ``G`` an aliased module),
    imports inside the function, references captured in globals or closures and
    ``getattr`` with a computed name are resolved; notebook functions that the
    scanned code names are scanned too. Raises AssertionError (French message).
    """
    rules = _Rules(targets, ops)
    scanner = _Scanner(rules)
    items = functions if isinstance(functions, (list, tuple, set)) else [functions]
    for item in items:
        label = rules.label_of(item)
        if label is not None:
            raise AssertionError(_message(label, f"`{_describe(item)}` est la fonction interdite elle-même"))
        scanner.scan_object(item, explicit=True)
    if scanner.findings:
        raise AssertionError("\n".join(scanner.findings[:5]))


# -- runtime detection ---------------------------------------------------------
class forbid:  # noqa: N801 - used as a context manager, like contextlib's
    """Make the named functions fail while the block runs.

    ``with forbid("torch.nn.functional.cross_entropy"): student_fn(x)`` fails if
    the student's code reaches the function in any way:

    * by identity: every call of the function's code, whatever name led to it (an
      alias, an aliased import, ``getattr`` with a computed name, a reference
      captured before the block), is seen by a profile hook;
    * for a torch operator, every public alias (``torch.special``, the method form
      ``x.softmax()``, ``torch._C._nn``) and its aten kernels, seen by a
      ``TorchDispatchMode`` (which also catches ``torch.ops.aten`` and C++
      decompositions such as cross_entropy → log_softmax);
    * statically: the notebook functions that ran in the block (except those of
      the test cell itself) are scanned like ``forbid_in`` does.

    Targets are dotted paths to a function, a method (``"torch.Tensor.softmax"``),
    a class (all its methods) or a module (everything defined in it, e.g.
    ``"datasketch"``). ``ops`` adds aten operators by name (``"aten._softmax"``).
    A violation is reported even if the student's code catches the first error.
    """

    def __init__(self, *targets: str, ops: Iterable[str] = (), scan: bool = True):
        self.rules = _Rules(targets, ops)
        self.scan = scan
        self.violations: list[str] = []
        self.executed: dict[types.CodeType, dict] = {}
        self._mode = None

    # the hook runs on every call of the block: keep it short
    def _hook(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            rules = self.rules
            if code in rules.codes:
                self._report(
                    rules.codes[code],
                    f"appel de {code.co_filename.rsplit(os.sep, 1)[-1]}:{getattr(code, 'co_qualname', code.co_name)}",
                )
            elif rules.prefixes and code.co_filename.startswith(rules.prefixes):
                label = next(lab for pre, lab in rules.files if code.co_filename.startswith(pre))
                self._report(label, f"appel de {getattr(code, 'co_qualname', code.co_name)}")
            elif code not in self.executed and frame.f_globals.get("__name__") == "__main__":
                self.executed[code] = frame.f_globals
        elif event == "c_call":
            hit = self.rules.objects.get(id(arg))
            if hit is not None and hit[0] is arg:
                self._report(hit[1], f"appel de {_describe(arg)}")
            elif type(arg) is _BUILTIN:
                name = arg.__name__
                if name in self.rules.methods:
                    label = self.rules.method_label(name, arg.__self__)
                    if label is not None:
                        self._report(label, f"appel de {_describe(arg)}")
                elif self.rules.modules and isinstance(arg.__module__, str):
                    label = self.rules.label_of(arg)
                    if label is not None:
                        self._report(label, f"appel de {_describe(arg)}")
        if self._previous is not None:
            self._previous(frame, event, arg)

    def _report(self, label: str, detail: str) -> None:
        text = _message(label, detail)
        self.violations.append(text)
        raise AssertionError(text)

    def __enter__(self):
        caller = sys._getframe(1)
        if caller.f_code.co_name == "__enter__" and caller.f_back is not None:  # through contextlib/ExitStack
            caller = caller.f_back
        self._own_file = caller.f_code.co_filename
        if self.rules.aten and "torch" in sys.modules:
            self._mode = _op_guard(self)
            self._mode.__enter__()
        self._previous = sys.getprofile()
        self._previous_threads = threading.getprofile() if hasattr(threading, "getprofile") else None
        threading.setprofile(self._hook)
        sys.setprofile(self._hook)
        return self

    def __exit__(self, exc_type, exc, tb):
        hooked = sys.getprofile() == self._hook
        sys.setprofile(self._previous)
        threading.setprofile(self._previous_threads)
        if self._mode is not None:
            self._mode.__exit__(None, None, None)
        if self.violations:
            raise AssertionError(self.violations[0]) from None
        if exc_type is not None:
            return False
        if not hooked:
            raise AssertionError(
                "le contrôle des fonctions interdites a été désactivé pendant l'appel : "
                "c'est interdit dans cet exercice."
            )
        if self.scan and self.executed:
            scanner = _Scanner(self.rules)
            for code, globals_ in list(self.executed.items()):
                if code.co_filename != self._own_file:
                    scanner.scan_code(code, globals_, None)
            if scanner.findings:
                raise AssertionError("\n".join(scanner.findings[:5]))
        return False


def _op_guard(owner: forbid):
    """A TorchDispatchMode that refuses the forbidden aten operators (created lazily: torch is optional)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class _OpGuard(TorchDispatchMode):
        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            return False  # True would wrap the handler in torch._dynamo.disable: 5 s of imports at the first operator

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func._schema.name.partition("::")[2]
            label = owner.rules.aten.get(name)
            if label is not None:
                owner.violations.append(_message(label, f"opérateur aten.{name} atteint"))
                raise AssertionError(owner.violations[-1])
            return func(*args, **(kwargs or {}))

    return _OpGuard()
