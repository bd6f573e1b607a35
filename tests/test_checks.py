import math

import pytest
import torch

from course_utils.checks import assert_close, assert_raises, forbid


def test_close_values_pass():
    assert_close(torch.tensor([1.0, 2.0]), [1.0, 2.0 + 1e-9])
    assert_close(torch.tensor([math.inf, -math.inf, math.nan]), [math.inf, -math.inf, math.nan])


def test_messages_say_what_is_wrong_without_the_answer():
    expected = torch.tensor([0.123456, 7.654321, 3.0])
    with pytest.raises(AssertionError) as info:
        assert_close(torch.tensor([0.1, 7.654321, 3.0]), expected, name="softmax")
    message = str(info.value)
    assert "softmax" in message and "1 valeur(s) sur 3" in message
    assert "0.123456" not in message and "7.654321" not in message


def test_shape_nan_and_none_are_reported():
    with pytest.raises(AssertionError, match="forme"):
        assert_close(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(AssertionError, match="NaN"):
        assert_close(torch.tensor([math.nan]), torch.tensor([1.0]))
    with pytest.raises(AssertionError, match="return"):
        assert_close(None, torch.tensor([1.0]))


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


def test_forbid_blocks_then_restores():
    original = torch.nn.functional.softmax
    with forbid("torch.nn.functional.softmax", "torch.Tensor.softmax"):
        with pytest.raises(AssertionError, match="interdit"):
            torch.nn.functional.softmax(torch.zeros(2), dim=0)
        with pytest.raises(AssertionError, match="interdit"):
            torch.zeros(2).softmax(0)
    assert torch.nn.functional.softmax is original
    assert torch.zeros(2).softmax(0).sum() == 1


class _Rotary:
    @staticmethod
    def angles(n):
        return list(range(n))


class _Child(_Rotary):
    pass


def test_forbid_restores_static_and_inherited_methods():
    with forbid("test_checks._Rotary.angles", "test_checks._Child.angles"):
        with pytest.raises(AssertionError, match="interdit"):
            _Rotary().angles(2)
    assert isinstance(vars(_Rotary)["angles"], staticmethod)
    assert "angles" not in vars(_Child)
    assert _Child().angles(3) == [0, 1, 2]
