"""check_in_range: scikit-learn's check_scalar plus the two cases it lets pass."""

import numpy as np
import pytest

from skmixal._validation import check_in_range, check_n_instances


@pytest.mark.parametrize(
    "value, kwargs, match",
    [
        (0, {"low": 1, "integer": True}, r"n == 0, must be >= 1"),
        (1.5, {"low": 0, "high": 1}, r"n == 1.5, must be <= 1"),
        (0.0, {"low": 0, "low_inclusive": False}, r"n == 0.0, must be > 0"),
        (2, {"high": 2, "high_inclusive": False}, r"n == 2, must be < 2"),
        (float("nan"), {"low": 0}, r"n must be finite"),
        (float("inf"), {}, r"n must be finite"),
    ],
)
def test_out_of_range_raises_value_error_naming_the_parameter(value, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_in_range(value, "n", **kwargs)


@pytest.mark.parametrize(
    "value, integer, match",
    [
        (True, True, "n must be an integer, got True"),
        (False, False, "n must be a real number, got False"),
        (1.0, True, "n must be an integer, got 1.0"),
        ("3", False, "n must be a real number, got '3'"),
    ],
)
def test_wrong_type_raises_type_error(value, integer, match):
    with pytest.raises(TypeError, match=match):
        check_in_range(value, "n", integer=integer)


def test_valid_values_are_returned_unchanged():
    assert check_in_range(np.int64(3), "n", low=1, integer=True) == 3
    assert check_in_range(0.5, "p", low=0, high=1) == 0.5
    assert check_in_range(1, "p", low=0, high=1) == 1  # inclusive by default
    assert check_in_range(None, "p", allow_none=True) is None
    assert check_n_instances(1) == 1
    with pytest.raises(ValueError, match="n_instances == 0, must be >= 1"):
        check_n_instances(0)
