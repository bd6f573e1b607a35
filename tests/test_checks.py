import math
import statistics
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils.checks import assert_close, assert_raises, forbid, forbid_in

SOFTMAX_FAMILY = (
    "torch.softmax",
    "torch.log_softmax",
    "torch.logsumexp",
    "torch.Tensor.softmax",
    "torch.Tensor.log_softmax",
    "torch.Tensor.logsumexp",
    "torch.nn.functional.softmax",
    "torch.nn.functional.log_softmax",
    "torch.nn.functional.cross_entropy",
    "torch.nn.functional.nll_loss",
)
ce = F.cross_entropy  # a reference captured at import, before any forbid block


def student(source: str, **names):
    """Define functions as a notebook cell would: in a `__main__` namespace, from another "file" than the test."""
    namespace = {"__name__": "__main__", "torch": torch, "F": F, "np": np, "math": math, **names}
    exec(compile(source, "<cellule de l'élève>", "exec"), namespace)
    return namespace


HONEST = student("""
def log_softmax(z, dim=-1):
    m = z.amax(dim=dim, keepdim=True)
    shifted = z - m
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))

def softmax(z, dim=-1):
    return log_softmax(z, dim).exp()

def cross_entropy(z, y):
    return -log_softmax(z).gather(1, y[:, None]).mean()

def percentile(values, q):
    values = sorted(values)
    h = (len(values) - 1) * q / 100
    i = math.floor(h)
    return values[i] + (h - i) * (values[min(i + 1, len(values) - 1)] - values[i])
""")


# -- assert_close ----------------------------------------------------------------
def test_close_values_pass():
    assert_close(torch.tensor([1.0, 2.0]), [1.0, 2.0 + 1e-9])
    assert_close(torch.tensor([math.inf, -math.inf, math.nan]), [math.inf, -math.inf, math.nan])
    assert_close(torch.nn.Parameter(torch.ones(2)), np.ones(2, dtype=np.float32))
    assert_close([torch.tensor(1.0), torch.tensor(2.0)], (1.0, np.float64(2.0)))
    assert_close(np.int64(3), 3)
    assert_close(torch.ones(2, dtype=torch.bfloat16), [1, 1])
    assert_close("chat", "chat")
    assert_close(np.array([True, False]), [True, False])


def test_messages_say_what_is_wrong_without_the_answer():
    expected = torch.tensor([0.123456, 7.654321, 3.0])
    with pytest.raises(AssertionError) as info:
        assert_close(torch.tensor([0.1, 7.654321, 3.0]), expected, name="softmax")
    message = str(info.value)
    assert "softmax" in message and "1 valeur(s) sur 3" in message
    assert "0.123456" not in message and "7.654321" not in message


def test_shape_nan_inf_and_none_are_reported():
    with pytest.raises(AssertionError, match="forme"):
        assert_close(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(AssertionError, match="NaN"):
        assert_close(torch.tensor([math.nan]), torch.tensor([1.0]))
    with pytest.raises(AssertionError, match="infinies"):
        assert_close(torch.tensor([math.inf]), torch.tensor([-math.inf]))
    with pytest.raises(AssertionError, match="return"):
        assert_close(None, torch.tensor([1.0]))
    with pytest.raises(AssertionError, match="diffère"):
        assert_close("chien", "chat")


class _EqualsAnything:
    def __eq__(self, other):
        return True

    def __array__(self, dtype=None, copy=None):
        return np.asarray([1.0, 2.0])

    def __float__(self):
        return 1.0


class _LyingArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(self), dtype=bool)

    def __sub__(self, other):
        return np.zeros(np.shape(self))


class _LyingTensor(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return torch.zeros(2)  # every operation "matches"


class _LyingFloat(float):
    def __eq__(self, other):
        return True

    def __sub__(self, other):
        return 0.0


@pytest.mark.parametrize(
    "fake",
    [
        _EqualsAnything(),
        np.zeros(2).view(_LyingArray),
        torch.zeros(2).as_subclass(_LyingTensor),
        _LyingFloat(5.0),
        [_EqualsAnything(), 2.0],
        {"a": 1.0},
    ],
    ids=["eq-and-array", "ndarray-subclass", "tensor-subclass", "float-subclass", "list-of-fakes", "dict"],
)
def test_objects_that_claim_to_equal_anything_are_refused(fake):
    with pytest.raises(AssertionError, match="type reçu"):
        assert_close(fake, [1.0, 2.0], name="résultat")


def test_object_dtype_is_refused_with_a_clear_message():
    with pytest.raises(AssertionError, match="dtype object"):
        assert_close(np.array([_EqualsAnything(), 1.0], dtype=object), [1.0, 1.0])
    with pytest.raises(AssertionError, match="dtype object"):
        assert_close(np.array([1.0, 2.0], dtype=object), [1.0, 2.0])


def test_comparisons_use_functions_captured_at_import(monkeypatch):
    monkeypatch.setattr(np, "isclose", lambda *a, **k: np.ones(np.broadcast(*a[:2]).shape, dtype=bool))
    monkeypatch.setattr(np, "asarray", lambda *a, **k: np.zeros(2))
    with pytest.raises(AssertionError, match="1 valeur"):
        assert_close(np.array([1.0, 5.0]), np.array([1.0, 2.0]))


def test_assert_raises():
    def bad(x):
        raise ValueError("x doit être positif")

    assert_raises(ValueError, bad, -1)
    with pytest.raises(AssertionError, match="aurait dû lever"):
        assert_raises(ValueError, abs, -1)
    with pytest.raises(AssertionError, match="obtenue TypeError"):
        assert_raises(ValueError, len, 3)

    def silent(x):
        raise ValueError()

    with pytest.raises(AssertionError, match="message vide"):
        assert_raises(ValueError, silent, 1)


# -- forbid: the runtime detector --------------------------------------------------
def test_forbid_blocks_then_restores():
    original = torch.nn.functional.softmax
    with pytest.raises(AssertionError, match="interdit"), forbid("torch.nn.functional.softmax", "torch.Tensor.softmax"):
        torch.nn.functional.softmax(torch.zeros(2), dim=0)
    with pytest.raises(AssertionError, match="interdit"), forbid("torch.nn.functional.softmax", "torch.Tensor.softmax"):
        torch.zeros(2).softmax(0)
    assert torch.nn.functional.softmax is original
    assert torch.zeros(2).softmax(0).sum() == 1
    assert sys.getprofile() is None


BYPASSES = {
    "special-alias": ("torch.logsumexp", "def f(x):\n    return torch.special.logsumexp(x, 1)"),
    "method-form": ("torch.nn.functional.softmax", "def f(x):\n    return x.softmax(1)"),
    "unbound-method": ("torch.nn.functional.softmax", "def f(x):\n    return torch.Tensor.softmax(x, 1)"),
    "aliased-import": (
        "torch.nn.functional.log_softmax",
        "def f(x):\n    from torch.nn import functional as G\n    return G.log_softmax(x, 1)",
    ),
    "string-getattr": ("torch.log_softmax", "def f(x):\n    return getattr(torch, 'log' + '_softmax')(x, 1)"),
    "aten-op": ("torch.softmax", "def f(x):\n    return torch.ops.aten._softmax(x, 1, False)"),
    "decomposition": ("torch.log_softmax", "def f(x):\n    return torch._C._nn.cross_entropy_loss(x, x.argmax(1))"),
    "module-class": ("torch.nn.functional.softmax", "def f(x):\n    return torch.nn.Softmax(dim=1)(x)"),
    "distribution": ("torch.logsumexp", "def f(x):\n    return torch.distributions.Categorical(logits=x).entropy()"),
    "captured-global": ("torch.nn.functional.cross_entropy", "def f(x):\n    return ce(x, x.argmax(1))"),
    "numpy-alias": (
        "numpy.percentile",
        "import numpy.lib._function_base_impl as fb\ndef f(x):\n    return fb.percentile(x.numpy(), 50)",
    ),
    "numpy-captured": ("numpy.quantile", "q = np.quantile\ndef f(x):\n    return q(x.numpy(), 0.5)"),
    "python-captured": (
        "statistics.quantiles",
        "from statistics import quantiles as qs\ndef f(x):\n    return qs([1, 2, 3])",
    ),
    "whole-module": ("statistics", "import statistics as st\ndef f(x):\n    return st.median([1, 2, 3])"),
    "class-subclass": (
        "torch.optim.SGD",
        "class Mine(torch.optim.SGD):\n    pass\n"
        "def f(x):\n    p = torch.nn.Parameter(torch.ones(2))\n    p.grad = torch.ones(2)\n"
        "    Mine([p], lr=0.1).step()\n    return p",
    ),
    "module-internal": (
        "torch.optim",
        "def f(x):\n    from torch.optim import adam\n    p = torch.ones(2)\n    return adam._single_tensor_adam",
    ),
    "lambda-in-main": ("torch.logsumexp", "g = lambda x: torch.logsumexp(x, 1)\ndef f(x):\n    return g(x)"),
}


@pytest.mark.parametrize("case", sorted(BYPASSES))
def test_every_bypass_is_caught(case):
    target, source = BYPASSES[case]
    f = student(source, ce=ce)["f"]
    with pytest.raises(AssertionError, match="interdit"), forbid(target):
        f(torch.randn(3, 4))
    assert sys.getprofile() is None


def test_catching_the_first_error_does_not_help():
    f = student("""
def f(x):
    try:
        return torch.logsumexp(x, 1)
    except AssertionError:
        return torch.logsumexp(x, 1)  # second try, the hook is gone by now
""")["f"]
    with pytest.raises(AssertionError, match="torch.logsumexp est interdit"), forbid("torch.logsumexp"):
        f(torch.randn(2, 3))


def test_switching_the_detector_off_is_caught():
    f = student("""
import sys
def f(x):
    sys.setprofile(None)
    return x
""")["f"]
    with pytest.raises(AssertionError, match="désactivé|désactiver"), forbid("torch.logsumexp"):
        f(torch.randn(2, 3))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_threads_are_watched():
    f = student(
        """
import threading
def f(x):
    out = []
    t = threading.Thread(target=lambda: out.append(statistics.median([1, 2, 3])))
    t.start()
    t.join()
    return out
""",
        statistics=statistics,
    )["f"]
    with pytest.raises(AssertionError, match="statistics.median est interdit"), forbid("statistics.median"):
        f(None)  # the call fails in the thread, and the block reports it


def test_honest_implementations_pass():
    z = torch.randn(5, 7)
    y = torch.randint(0, 7, (5,))
    with forbid(*SOFTMAX_FAMILY, "torch.nn.functional.kl_div"):
        got_soft = HONEST["softmax"](z)
        got_ce = HONEST["cross_entropy"](z, y)
    assert_close(got_soft, torch.softmax(z, -1), atol=1e-6)
    assert_close(got_ce, F.cross_entropy(z, y), atol=1e-6)
    expected = np.percentile([3.0, 1.0, 2.0, 10.0], 95)
    with forbid("numpy.percentile", "numpy.quantile", "statistics"):
        got = HONEST["percentile"]([3.0, 1.0, 2.0, 10.0], 95)
    assert_close(got, expected)


def test_building_blocks_stay_allowed():
    """Forbidding softmax does not forbid what a from-scratch softmax is made of, nor log_softmax's kernel."""
    x = torch.randn(4, 6, requires_grad=True)
    with forbid("torch.softmax", "torch.nn.functional.scaled_dot_product_attention"):
        out = (x.exp() / x.exp().sum(-1, keepdim=True)).amax(-1).sum() + x.log_softmax(-1).sum() + x.logsumexp(-1).sum()
        out.backward()
        F.layer_norm(x, (6,))
        F.gelu(x, approximate="tanh") @ torch.randn(6, 3)


def test_static_scan_names_unexecuted_paths():
    f = student("""
def f(x, cheat=False):
    if cheat:
        return torch.special.logsumexp(x, 1)
    return x.amax(1)
""")["f"]
    with pytest.raises(AssertionError, match="interdit.*torch.special.logsumexp"), forbid("torch.logsumexp"):
        f(torch.randn(2, 3))


def test_test_cell_helpers_are_not_scanned():
    def reference(x):  # defined next to the block: a test helper, never flagged
        return torch.logsumexp(x, 1) if False else x

    with forbid("torch.logsumexp"):
        reference(torch.randn(2, 2))


class _Rotary:
    @staticmethod
    def angles(n):
        return list(range(n))


class _Child(_Rotary):
    pass


def test_forbid_static_and_inherited_methods():
    with pytest.raises(AssertionError, match="interdit"), forbid("test_checks._Rotary.angles"):
        _Child().angles(2)
    assert isinstance(vars(_Rotary)["angles"], staticmethod)
    assert "angles" not in vars(_Child)
    assert _Child().angles(3) == [0, 1, 2]


def test_wrong_target_fails_early():
    with pytest.raises((ValueError, AttributeError)):
        forbid("torch.no_such_function")


# -- forbid_in: the static scan alone ----------------------------------------------
STATIC_BYPASSES = {
    "direct": ("torch.nn.functional.cross_entropy", "def f(z, y):\n    return F.cross_entropy(z, y)"),
    "alias-module": (
        "torch.nn.functional.cross_entropy",
        "from torch.nn import functional as G\ndef f(z, y):\n    return G.cross_entropy(z, y)",
    ),
    "local-import": (
        "torch.nn.functional.cross_entropy",
        "def f(z, y):\n    import torch.nn.functional as G\n    return G.cross_entropy(z, y)",
    ),
    "from-import": (
        "torch.nn.functional.cross_entropy",
        "def f(z, y):\n    from torch.nn.functional import cross_entropy as c\n    return c(z, y)",
    ),
    "captured": ("torch.nn.functional.cross_entropy", "def f(z, y):\n    return ce(z, y)"),
    "alias-of-op": ("torch.logsumexp", "def f(z, y):\n    return torch.special.logsumexp(z, 1)"),
    "method": ("torch.Tensor.softmax", "def f(z, y):\n    return z.softmax(1)"),
    "computed-getattr": ("torch.log_softmax", "def f(z, y):\n    return getattr(torch, 'log' + '_softmax')(z, 1)"),
    "constant-getattr": ("torch.log_softmax", "def f(z, y):\n    return getattr(torch, 'log_softmax')(z, 1)"),
    "eval": ("torch.log_softmax", "def f(z, y):\n    return eval('torch.log_softmax')(z, 1)"),
    "module-dict": ("torch.log_softmax", "def f(z, y):\n    return torch.__dict__['log_softmax'](z, 1)"),
    "helper": (
        "torch.nn.functional.cross_entropy",
        "def helper(z, y):\n    return F.cross_entropy(z, y)\ndef f(z, y):\n    return helper(z, y)",
    ),
    "closure": (
        "torch.nn.functional.cross_entropy",
        "def make():\n    c = F.cross_entropy\n    def f(z, y):\n        return c(z, y)\n    return f\nf = make()",
    ),
    "tamper": ("torch.logsumexp", "import sys\ndef f(z, y):\n    sys.setprofile(None)\n    return z"),
}


@pytest.mark.parametrize("case", sorted(STATIC_BYPASSES))
def test_static_scan_catches(case):
    target, source = STATIC_BYPASSES[case]
    f = student(source, ce=ce)["f"]
    with pytest.raises(AssertionError, match="interdit"):
        forbid_in(f, target)


def test_static_scan_accepts_honest_code_and_classes():
    forbid_in([HONEST["softmax"], HONEST["cross_entropy"], HONEST["log_softmax"]], *SOFTMAX_FAMILY)
    ns = student("""
class Norm(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d))
        self.layer = getattr(torch.nn, "Linear")(d, d)

    def forward(self, x):
        scale = getattr(self, "weight")
        return scale * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
""")
    forbid_in(ns["Norm"], "torch.nn.functional.rms_norm", "torch.rms_norm", "torch.nn.RMSNorm")
    with pytest.raises(AssertionError, match="interdit"):
        forbid_in(
            student("class M:\n    def go(self, x):\n        return F.rms_norm(x, (2,))")["M"],
            "torch.nn.functional.rms_norm",
        )


def test_forbidding_a_decorated_function_spares_others_with_the_same_decorator(monkeypatch):
    import types

    @torch.no_grad()
    def forbidden_one(x):
        return x + 1

    @torch.no_grad()
    def allowed_one(x):
        return x * 2

    module = types.ModuleType("decorated_fixture")
    module.forbidden_one = forbidden_one
    monkeypatch.setitem(sys.modules, "decorated_fixture", module)
    with forbid("decorated_fixture.forbidden_one"):
        assert allowed_one(torch.ones(1)).item() == 2
    with pytest.raises(AssertionError, match="interdit"), forbid("decorated_fixture.forbidden_one"):
        forbidden_one(torch.ones(1))
