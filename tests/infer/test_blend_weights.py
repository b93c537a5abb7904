"""Blend weights are read in one place (rvclora.blend_weights) for merge, infer, stream, live and the API."""

from __future__ import annotations

import pytest

from rvclora.blend_weights import parse_weights
from rvclora.errors import ConfigError


def test_nothing_given_is_equal_shares() -> None:
    for given in (None, "", [], [" , "]):
        assert parse_weights(given, 1) == [1.0]
        assert parse_weights(given, 4) == [0.25] * 4
        assert parse_weights(given, 2, shares=True) == [0.5, 0.5]


def test_text_repeated_values_and_numbers_read_alike() -> None:
    assert parse_weights("0.7, 0.3", 2) == [0.7, 0.3]
    assert parse_weights(["0.7", "0.3"], 2) == parse_weights(["0.7,0.3"], 2) == parse_weights([0.7, 0.3], 2)


def test_merge_weights_are_kept_conversion_weights_are_shares() -> None:
    assert parse_weights("1,1", 2) == [1.0, 1.0]  # merge: both adapters at full strength
    assert parse_weights("1,-0.5", 2) == [1.0, -0.5]
    assert parse_weights("3,1", 2, shares=True) == [0.75, 0.25]
    with pytest.raises(ConfigError, match="non-negative and not all zero"):
        parse_weights("1,-0.5", 2, shares=True)
    with pytest.raises(ConfigError, match="non-negative and not all zero"):
        parse_weights([0.0, 0.0], 2, shares=True)


@pytest.mark.parametrize("shares", [False, True])
def test_bad_lists_are_one_clear_error(shares: bool) -> None:
    with pytest.raises(ConfigError, match=r"--weights must be numbers separated by commas, got '0.7,x'"):
        parse_weights(["0.7", "x"], 2, shares=shares)
    with pytest.raises(ConfigError, match="--weights has 3 values for 2 adapters") as info:
        parse_weights("0.2,0.3,0.5", 2, shares=shares)
    assert info.value.hint == "give one weight per --lora"
