"""Tests of espcn_jax.pretrained: argument checks of load_pretrained."""
from __future__ import annotations

import pytest

from espcn_jax import pretrained


@pytest.mark.parametrize("channels", [0, 2, 4, True])
def test_channels_other_than_1_or_3_are_refused(channels):
  # Issue 20: load_pretrained(3, channels=2) silently returned the RGB model.
  with pytest.raises(ValueError, match="channels must be 1 \\(Y\\) or 3 \\(RGB\\)"):
    pretrained.load_pretrained(3, channels=channels)


@pytest.mark.parametrize("scale", [1, 0, 3.0, "3"])
def test_scale_must_be_an_integer_of_at_least_2(scale):
  with pytest.raises(ValueError, match="scale must be an integer >= 2.*shipped: .*espcn_x3_y"):
    pretrained.load_pretrained(scale)


def test_valid_arguments_load_the_shipped_model():
  params, card = pretrained.load_pretrained(3, channels=1)
  assert card["scale"] == 3 and card["channels"] == 1
  assert params["conv1"]["kernel"].shape[2] == 1
