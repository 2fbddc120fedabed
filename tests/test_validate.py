import math

import pytest

from labkit.validate import (
    ConfigError,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_str,
)


def test_choice_lists_allowed_values():
    assert check_choice("optimizer", "adam", ("sgd", "adam")) == "adam"
    with pytest.raises(ConfigError, match=r"optimizer must be one of 'sgd', 'adam'; got 'adm'"):
        check_choice("optimizer", "adm", ("sgd", "adam"))


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3", True, None])
def test_int_rejects_non_integers_and_small_values(bad):
    with pytest.raises(ConfigError, match="batch_size must be an integer"):
        check_int("batch_size", bad, minimum=1)


@pytest.mark.parametrize("bad", [0.0, -1e-3, math.nan, math.inf, "0.1", False])
def test_positive_float(bad):
    with pytest.raises(ConfigError, match="lr must be a finite number"):
        check_float("lr", bad, positive=True)
    assert check_float("lr", 3, positive=True) == 3.0


def test_float_bounds_name_the_limit():
    with pytest.raises(ConfigError, match=r"dropout must be <= 0.95; got 1.0"):
        check_float("dropout", 1.0, maximum=0.95)


@pytest.mark.parametrize("bad", ["True", "yes", 1, 0, None])
def test_bool_takes_only_true_or_false(bad):
    assert check_bool("resume", True) is True and check_bool("resume", False) is False
    with pytest.raises(ConfigError, match="resume must be True or False"):
        check_bool("resume", bad)


def test_str_refuses_other_kinds():
    assert check_str("out_dir", "") == ""
    with pytest.raises(ConfigError, match="out_dir must be a string; got 3"):
        check_str("out_dir", 3)
