"""The training recipes never read an evaluation set (Set5, Set14, BSD100, Urban100).

Choosing a checkpoint by a test set's PSNR and then reporting that PSNR
inflates the figure; every recipe validates on images held out of its own
training pool instead (``val_data = "holdout:N"``).
"""
from __future__ import annotations

import importlib
import pathlib

import pytest

from espcn_jax import data, pretrained

CONFIGS = sorted(p.stem for p in (pathlib.Path(__file__).parents[2] / "espcn_jax" / "configs")
                 .glob("*.py") if p.stem != "__init__")
EVALUATION_SETS = ("Set5", "Set14", "BSD100", "B100", "Urban100")


def _config(stem: str):
  return importlib.import_module(f"espcn_jax.configs.{stem}").get_config()


@pytest.mark.parametrize("stem", CONFIGS)
def test_no_recipe_trains_or_validates_on_an_evaluation_set(stem):
  config = _config(stem)
  for field in ("train_data", "val_data", "init_from"):
    assert not any(name in str(config.get(field, "")) for name in EVALUATION_SETS), (stem, field)
  assert data.holdout_count(config.val_data), f"{stem} does not validate on a holdout split"


@pytest.mark.parametrize("stem", pretrained.available())
def test_every_shipped_model_names_a_validation_split_off_the_evaluation_sets(stem):
  card = pretrained.load_pretrained(int(stem.split("_")[1][1:]),
                                    3 if stem.endswith("_rgb") else 1)[1]
  assert not any(name in card["validation_data"] for name in EVALUATION_SETS)
  assert card["validation_data"].startswith("holdout:")
  assert card["validation_images"] and not any(
      name.lower() in key.lower() for key in card["validation_images"] for name in EVALUATION_SETS)


@pytest.mark.parametrize("stem", pretrained.available())
def test_shipped_validation_images_are_those_the_recipe_holds_out(sr_data, stem):
  card = pretrained.load_pretrained(int(stem.split("_")[1][1:]),
                                    3 if stem.endswith("_rgb") else 1)[1]
  folders = [str(sr_data / pathlib.PurePath(s).name)
             for s in data.split_sources(card["train_data"])]
  held = data.holdout_keys(data.pool_keys(folders), len(card["validation_images"]))
  assert card["validation_images"] == held
