"""Kernel side of the grader's guard: checks that a submission cannot switch off.

The grader's kernel imports this module in its start-up file, before any cell
runs (see ``course_utils.quiet.ipython_startup_file``). It keeps the original
objects that hidden tests rely on: the course's assertion helpers
(``course_utils.checks``), the comparison functions of numpy and torch (torch
when it is first imported), a few builtins. Before each graded test cell, the
grader runs :func:`check` (a cell that graders.preprocessors.GuardTestCells
inserts and removes again): whatever a submission rebound or monkeypatched is
put back, so the hidden tests run on the real functions, and the change is
reported for a manual look, as are classes defined in the submission that
override equality or truthiness (objects that "equal anything").

This is a guard against the usual ways of switching tests off, not a proof:
code in the same process that sets out to fool the guard itself can. What the
sandbox guarantees (files, network, processes) does not depend on it.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import types

MARK = "[garde-fou du correcteur]"

# Attributes whose originals are kept, by module (or class, "module:Class").
WATCHED = {
    "builtins": (
        "abs all any bool float int isinstance issubclass len max min repr round sorted str sum type zip"
    ).split(),
    "math": ["isclose", "isfinite", "isnan", "fabs"],
    "numpy": "allclose isclose array_equal array_equiv asarray array all any abs isfinite isnan".split(),
    "numpy.testing": ["assert_allclose", "assert_array_equal", "assert_equal"],
    "numpy:ndarray": ["__eq__", "__ne__", "__bool__", "all", "any", "tolist", "item"],
    "torch": "allclose isclose equal all any abs isfinite isnan as_tensor tensor is_tensor".split(),
    "torch.testing": ["assert_close"],
    "torch:Tensor": ["__eq__", "__ne__", "__bool__", "allclose", "equal", "all", "any", "item", "tolist", "numpy"],
    "course_utils.checks": None,  # every public name
}
# Usual names of modules in a notebook: a test cell that uses them must get the module.
MODULE_ALIASES = {
    "np": "numpy",
    "numpy": "numpy",
    "torch": "torch",
    "nn": "torch.nn",
    "F": "torch.nn.functional",
    "math": "math",
    "checks": "course_utils.checks",
}
# Dunders that let an object pass a comparison it should fail.
EQUALITY_DUNDERS = ("__eq__", "__ne__", "__bool__", "__array__", "__array_ufunc__", "__array_function__")
TORCH_DUNDERS = ("__torch_function__", "__torch_dispatch__")

_kept: dict[tuple[str, str], object] = {}  # (owner, attribute) -> original object
_modules: dict[str, object] = {}  # module name -> original module object
_cell_files: list[str] = []  # where IPython compiles the cells of this kernel


def _owner(spec: str):
    module_name, _, class_name = spec.partition(":")
    module = sys.modules.get(module_name)
    return getattr(module, class_name, None) if class_name and module is not None else module


def _keep(spec: str) -> None:
    module_name = spec.partition(":")[0]
    if module_name in sys.modules:
        _modules.setdefault(module_name, sys.modules[module_name])
    owner = _owner(spec)
    if owner is None:
        return
    names = WATCHED[spec]
    if names is None:
        names = [n for n in vars(owner) if not n.startswith("_") and callable(vars(owner)[n])]
    for name in names:
        if name in vars(owner):
            _kept.setdefault((spec, name), vars(owner)[name])


class _KeepOnImport(importlib.abc.MetaPathFinder):
    """Keeps a watched module's originals as soon as it is first imported."""

    def find_spec(self, fullname, path, target=None):
        if fullname not in {s.partition(":")[0] for s in WATCHED} or fullname in _modules:
            return None
        sys.meta_path.remove(self)  # find the real spec, then wrap its loader
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        real_exec = spec.loader.exec_module

        def exec_module(module, _real=real_exec, _name=fullname):
            _real(module)
            for watched in WATCHED:
                if watched.partition(":")[0] == _name:
                    _keep(watched)

        spec.loader.exec_module = exec_module
        return spec


def install() -> None:
    """Keep the originals (kernel start-up, before any cell)."""
    import numpy  # noqa: F401 - cheap, and every lab uses it
    import numpy.testing  # noqa: F401

    import course_utils.checks  # noqa: F401

    for spec in WATCHED:
        _keep(spec)
    if not any(isinstance(f, _KeepOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _KeepOnImport())
    shell = _ipython()
    if shell is not None:  # the file name IPython gives to the code of a cell
        _cell_files.append(shell.compile.get_code_name("", "", 0).rsplit("/", 1)[0])


def _ipython():
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return None
    return get_ipython()


def _defined_in_cells(function) -> bool:
    code = getattr(function, "__code__", None)
    filename = getattr(code, "co_filename", "")
    return bool(code) and (filename.startswith("<ipython-input") or any(filename.startswith(f) for f in _cell_files))


def _suspicious_classes() -> list[str]:
    """Classes written in the submission's cells that override equality or truthiness."""
    found, stack, seen = [], [object], set()
    while stack:
        cls = stack.pop()
        try:
            subclasses = type.__subclasses__(cls)
        except TypeError:
            continue
        for sub in subclasses:
            if id(sub) in seen:
                continue
            seen.add(id(sub))
            stack.append(sub)
            dunders = [d for d in EQUALITY_DUNDERS + TORCH_DUNDERS if d in vars(sub)]
            overridden = [d for d in dunders if _defined_in_cells(getattr(vars(sub)[d], "__func__", vars(sub)[d]))]
            if overridden:
                found.append(f"{sub.__qualname__} ({', '.join(overridden)})")
    return sorted(found)


def _restore_namespace(namespace: dict) -> list[str]:
    """Names of the notebook's namespace that hide a builtin or a module the tests use."""
    altered = []
    for name in WATCHED["builtins"]:
        value = namespace.get(name)
        if callable(value) and value is not _kept.get(("builtins", name)):
            altered.append(name)
            del namespace[name]
    for alias, module_name in MODULE_ALIASES.items():
        value, module = namespace.get(alias), _modules.get(module_name) or sys.modules.get(module_name)
        if value is None or module is None or value is module:
            continue
        replaced = isinstance(value, types.ModuleType) or any(
            _defined_in_cells(getattr(f, "__func__", f)) for f in vars(type(value)).values()
        )
        if replaced:
            altered.append(alias)
            namespace[alias] = module
    return altered


def check(cell: str = "") -> list[str]:
    """Put back whatever was changed; print and return what was."""
    shell = _ipython()
    altered = _restore_namespace(shell.user_ns) if shell is not None else []
    for name, module in _modules.items():
        if sys.modules.get(name) is not module:
            altered.append(f"sys.modules[{name!r}]")
            sys.modules[name] = module
    for (spec, name), original in _kept.items():
        owner = _owner(spec)
        if owner is not None and vars(owner).get(name) is not original:
            altered.append(f"{spec.replace(':', '.')}.{name}")
            try:
                setattr(owner, name, original)
            except (TypeError, AttributeError):  # a C type: cannot be patched, cannot have been
                pass
    classes = _suspicious_classes()
    report = []
    if altered:
        report.append("remis en place avant les tests : " + ", ".join(sorted(altered)))
    if classes:
        report.append("classes de la copie qui redéfinissent l'égalité : " + ", ".join(classes))
    print(f"{MARK} {cell} : " + (" ; ".join(report) if report else "ok"), flush=True)
    return report
