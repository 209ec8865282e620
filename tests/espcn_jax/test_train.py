"""Training: smoke run, exact resume after an interruption, data parallelism, bad states.

All runs use tiny generated images and a (8, 4)-feature ESPCN so that each
takes a few seconds on a 2-core CPU.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from espcn_jax import checkpoint, color, data, train
from espcn_jax.configs import default
from espcn_jax.configs import x3 as x3_recipe
from tests.conftest import REPO
from tests.espcn_jax.helpers import tiny_config, write_images


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
  return write_images(tmp_path_factory.mktemp("train_images"))


def _losses(workdir):
  lines = (workdir / "metrics.jsonl").read_text().splitlines()
  return {r["step"]: r["loss"] for r in map(json.loads, lines)}


def test_smoke_run_writes_checkpoints_metrics_and_model_info(image_dir, tmp_path):
  config = tiny_config(image_dir, image_dir)
  result = train.train_and_evaluate(config, tmp_path / "run")
  assert np.isfinite(result["loss"]) and "val_psnr" in result
  assert sorted(_losses(tmp_path / "run")) == [1, 2, 3, 4, 5, 6]
  info = checkpoint.read_model_info(tmp_path / "run")
  assert info["scale"] == 3 and info["channels"] == 1 and info["features"] == [8, 4]
  params, loaded = checkpoint.load_model(tmp_path / "run", scale=3, channels=1)
  assert loaded["source"] == "best"
  assert params["conv1"]["kernel"].shape == (5, 5, 1, 8)


def test_holdout_validation_never_trains_on_the_validation_images(image_dir, tmp_path):
  config = tiny_config(image_dir, "holdout:1")
  sampler, val_pairs = train._load_data(config)
  held = data.holdout_keys(data.pool_keys(str(image_dir)), 1)
  assert [f"{image_dir.name}/{p.name}" for p in val_pairs] == held
  trained = {f"{image_dir.name}/{p.name}" for p in data.load_pairs(
      str(image_dir), 3, 1, min_lr_size=config.patch_size, holdout=1)}
  assert len(trained) == 2 and not trained & set(held)
  result = train.train_and_evaluate(config, tmp_path / "run")
  assert np.isfinite(result["val_psnr"])


def test_extra_training_images_are_trained_on_and_never_held_out(image_dir, tmp_path):
  extra = write_images(tmp_path / "extra" / "event")
  config = tiny_config(image_dir, "holdout:1", extra_train_data=f"{tmp_path / 'extra'}/*@1")
  sampler, val_pairs = train._load_data(config)
  # The held-out image of the pool is the one it was without the extra images.
  held = data.holdout_keys(data.pool_keys(str(image_dir)), 1)
  assert [f"{image_dir.name}/{p.name}" for p in val_pairs] == held
  assert len(sampler.lrs) == 2 + len(data.pool_keys(str(extra)))


def test_smoke_config_needs_no_shared_data(tmp_path):
  # The README's smoke command must run in a fresh clone: embedded photos, no ../shared.
  config = default.get_config("smoke")
  assert (config.train_data, config.val_data) == ("samples", "samples")
  assert x3_recipe.get_config("smoke").train_data.startswith("../shared/")   # recipes keep their data
  with config.unlocked():
    config.num_steps, config.progress_bar = 2, False
  result = train.train_and_evaluate(config, tmp_path / "run")
  assert np.isfinite(result["loss"]) and np.isfinite(result["val_psnr"])


def test_training_reduces_the_loss(image_dir, tmp_path):
  config = tiny_config(image_dir, num_steps=60, log_every=1, eval_every=60,
                       checkpoint_every=60, learning_rate=3e-3)
  config.model.centre = 0.5
  train.train_and_evaluate(config, tmp_path / "run")
  losses = _losses(tmp_path / "run")
  assert losses[60] < 0.5 * losses[1]


def _assert_same_losses(a, b):
  assert sorted(a) == sorted(b)
  np.testing.assert_array_equal([a[s] for s in sorted(a)], [b[s] for s in sorted(b)])


@pytest.fixture(scope="module")
def straight_losses(image_dir, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("straight")
  train.train_and_evaluate(tiny_config(image_dir), workdir)
  return _losses(workdir)


def test_ctrl_c_saves_and_the_same_command_resumes_identically(image_dir, tmp_path,
                                                               straight_losses):
  def interrupt(step):
    if step == 4:
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    train.train_and_evaluate(tiny_config(image_dir), tmp_path, step_hook=interrupt)
  assert max(_losses(tmp_path)) == 4
  assert (tmp_path / "ckpt" / "4").is_dir()          # saved where it stopped
  train.train_and_evaluate(tiny_config(image_dir), tmp_path)   # the same command again
  _assert_same_losses(_losses(tmp_path), straight_losses)


def test_crash_resumes_from_the_last_checkpoint_identically(image_dir, tmp_path, straight_losses):
  def crash(step):
    if step == 5:
      raise RuntimeError("simulated crash")

  with pytest.raises(RuntimeError):
    train.train_and_evaluate(tiny_config(image_dir), tmp_path, step_hook=crash)
  assert max(_losses(tmp_path)) == 5
  assert not (tmp_path / "ckpt" / "5").exists()       # steps 4-5 are lost and redone
  train.train_and_evaluate(tiny_config(image_dir), tmp_path)
  _assert_same_losses(_losses(tmp_path), straight_losses)


def test_four_devices_give_the_losses_of_one(image_dir, tmp_path):
  assert jax.device_count() == 4, "conftest sets four host devices"
  one = tiny_config(image_dir, num_devices=1)
  four = tiny_config(image_dir, num_devices=4)
  train.train_and_evaluate(one, tmp_path / "one")
  train.train_and_evaluate(four, tmp_path / "four")
  a, b = _losses(tmp_path / "one"), _losses(tmp_path / "four")
  np.testing.assert_allclose([b[s] for s in sorted(b)], [a[s] for s in sorted(a)], rtol=1e-5)


def test_batch_not_divisible_by_devices_is_refused(image_dir, tmp_path):
  with pytest.raises(ValueError, match="divisible"):
    train.train_and_evaluate(tiny_config(image_dir, batch_size=6, num_devices=4), tmp_path / "r")


def test_nan_loss_stops_with_a_clear_error(image_dir, tmp_path):
  config = tiny_config(image_dir, learning_rate=1e30)   # a NaN rate is refused up front
  with pytest.raises(FloatingPointError, match="last good checkpoint"):
    train.train_and_evaluate(config, tmp_path / "run")


def test_workdir_of_another_model_is_refused(image_dir, tmp_path):
  train.train_and_evaluate(tiny_config(image_dir, num_steps=3), tmp_path / "run")
  with pytest.raises(checkpoint.CheckpointError, match="scale"):
    train.train_and_evaluate(tiny_config(image_dir, scale=2), tmp_path / "run")


def test_loading_a_checkpoint_for_another_scale_or_channels_fails(image_dir, tmp_path):
  train.train_and_evaluate(tiny_config(image_dir, num_steps=3), tmp_path / "run")
  with pytest.raises(checkpoint.CheckpointError, match="x3, not x2"):
    checkpoint.load_model(tmp_path / "run", scale=2)
  with pytest.raises(checkpoint.CheckpointError, match="1-channel"):
    checkpoint.load_model(tmp_path / "run", channels=3)
  with pytest.raises(checkpoint.CheckpointError, match="not an ESPCN checkpoint"):
    checkpoint.load_model(tmp_path)
  with pytest.raises(checkpoint.CheckpointError, match="no such"):
    checkpoint.load_model(tmp_path / "missing")


def test_empty_training_folder_is_a_clear_error(tmp_path):
  (tmp_path / "empty").mkdir()
  with pytest.raises(ValueError, match="no image files"):
    train.train_and_evaluate(tiny_config(tmp_path / "empty"), tmp_path / "run")


def test_rgb_model_trains(image_dir, tmp_path):
  result = train.train_and_evaluate(tiny_config(image_dir, image_dir, channels=3, scale=2,
                                                num_steps=3), tmp_path / "run")
  assert np.isfinite(result["val_psnr"])
  params, _ = checkpoint.load_model(tmp_path / "run", scale=2, channels=3)
  assert params["conv3"]["kernel"].shape[-1] == 12


def test_validation_and_checkpoints_do_not_depend_on_log_every(image_dir, tmp_path):
  config = tiny_config(image_dir, image_dir, num_steps=8, log_every=5, eval_every=2,
                       checkpoint_every=4)
  train.train_and_evaluate(config, tmp_path)
  records = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in records if "val_psnr" in r] == [2, 4, 6, 8]
  assert sorted(int(p.name) for p in (tmp_path / "ckpt").iterdir()) == [6, 8]   # keep 2


def test_half_written_metrics_line_does_not_break_resume(image_dir, tmp_path):
  config = tiny_config(image_dir, num_steps=3)
  train.train_and_evaluate(config, tmp_path)
  with (tmp_path / "metrics.jsonl").open("a") as f:
    f.write('{"step": 4, "lo')                                  # killed mid-write
  train.train_and_evaluate(tiny_config(image_dir, num_steps=4), tmp_path)
  assert sorted(_losses(tmp_path)) == [1, 2, 3, 4]


def test_sampler_errors_surface_instead_of_hanging():
  class Broken(data.PatchSampler):
    def batch(self, step, rows=slice(None)):
      raise RuntimeError("disk vanished")

  pair = data.SRPair("x", np.zeros((20, 20, 1), np.float32), np.zeros((60, 60, 1), np.float32))
  with pytest.raises(RuntimeError, match="disk vanished"):
    list(Broken([pair], 3, 8, 2, seed=0).iterate(0, 3))


def _params(config, seed):
  return jax.device_get(train.create_train_state(config, jax.random.key(seed)).params)


def _info(config):
  return {"scale": config.scale, "channels": config.channels, "centre": config.model.centre}


def test_warm_start_copies_matching_layers_and_keeps_another_scales_last_layer(image_dir):
  x3 = tiny_config(image_dir, scale=3)
  x2 = tiny_config(image_dir, scale=2)
  source, fresh = _params(x3, 1), _params(x2, 2)
  out = jax.device_get(train.warm_start(fresh, source, _info(x3), x2))
  for layer in ("conv1", "conv2"):
    for name in ("kernel", "bias"):
      np.testing.assert_array_equal(out[layer][name], source[layer][name])
  np.testing.assert_array_equal(out["conv3"]["kernel"], fresh["conv3"]["kernel"])


def test_warm_started_rgb_model_reproduces_the_y_model_on_grey_images(image_dir):
  y_cfg = tiny_config(image_dir, scale=3)
  rgb_cfg = tiny_config(image_dir, scale=3, channels=3)
  source = _params(y_cfg, 1)
  rgb = train.warm_start(_params(rgb_cfg, 2), source, _info(y_cfg), rgb_cfg)
  grey = np.random.default_rng(0).uniform(0.1, 0.9, (1, 20, 20, 1))
  y_model, rgb_model = train.create_model(y_cfg), train.create_model(rgb_cfg)
  out_y = np.asarray(y_model.apply({"params": source}, color.rgb_to_y(
      np.repeat(grey, 3, -1))[..., None].astype(np.float32)))
  out_rgb = np.asarray(rgb_model.apply({"params": rgb}, np.repeat(grey, 3, -1).astype(np.float32)),
                       np.float64)
  # Interior only: zero padding is grey 0.5 for RGB input but Y 0.5 for the Y model.
  inner = (slice(None), slice(15, -15), slice(15, -15))   # 4 LR px of receptive field = 12 HR px
  np.testing.assert_allclose(color.rgb_to_y(out_rgb)[inner], out_y[..., 0][inner], atol=2e-6)
  np.testing.assert_allclose(out_rgb[..., 0], out_rgb[..., 2], atol=1e-6)


def test_warm_start_refuses_models_that_do_not_fit(image_dir):
  y_cfg = tiny_config(image_dir, scale=3)
  wide = tiny_config(image_dir, scale=3)
  wide.model.features = (16, 4)
  with pytest.raises(ValueError, match="does not fit"):
    train.warm_start(_params(y_cfg, 0), _params(wide, 0), _info(wide), y_cfg)
  raw = tiny_config(image_dir, scale=3)
  with pytest.raises(ValueError, match="centre"):
    train.warm_start(_params(y_cfg, 0), _params(raw, 0), dict(_info(raw), centre=0.0), y_cfg)


def test_init_from_a_workdir_starts_training_there(image_dir, tmp_path):
  first = tiny_config(image_dir, image_dir)
  train.train_and_evaluate(first, tmp_path / "a")
  source, _ = checkpoint.load_model(tmp_path / "a", which="latest")
  second = tiny_config(image_dir, scale=2, init_from=str(tmp_path / "a"), num_steps=1,
                       learning_rate=0.0)
  train.train_and_evaluate(second, tmp_path / "b")
  params, _ = checkpoint.load_model(tmp_path / "b", which="latest")
  np.testing.assert_allclose(params["conv2"]["kernel"], source["conv2"]["kernel"], atol=0)
  with pytest.raises(FileNotFoundError, match="no shipped model"):
    train.load_source_params("pretrained:espcn_x9_y")


@pytest.mark.parametrize("field, value, message", [
    ("batch_size", 0, "config.batch_size must be an integer >= 1, got 0"),
    ("num_steps", 0, "config.num_steps must be an integer >= 1"),
    ("checkpoint_every", 0, "config.checkpoint_every must be an integer >= 1"),
    ("patch_size", 2, "config.patch_size must be an integer >= the largest kernel size \\(5\\)"),
    ("learning_rate", -1e-3, "config.learning_rate must be a finite number >= 0"),
    ("learning_rate", float("nan"), "config.learning_rate must be a finite number >= 0"),
    ("learning_rate", float("inf"), "config.learning_rate must be a finite number >= 0"),
    ("scale", 1, "config.scale must be an integer >= 2"),
    ("channels", 2, "config.channels must be 1 \\(Y\\) or 3"),
    ("val_data", "holdout:0", "expected 'holdout:N' with N a positive integer"),
    ("degradation", "lanczos", "config.degradation must be one of"),
    ("extra_train_data", "photos/*@2", "the factor after '@' must be a number in"),
])
def test_unusable_config_values_are_refused_before_any_work(image_dir, tmp_path, field, value,
                                                           message):
  # Issue 20: batch_size=0 used to surface as a NaN loss with advice to lower the rate.
  with pytest.raises(ValueError, match=message):
    train.train_and_evaluate(tiny_config(image_dir, **{field: value}), tmp_path / "run")
  assert not (tmp_path / "run").exists()


def test_train_script_reports_a_bad_config_value_as_an_error(tmp_path):
  cmd = [sys.executable, "train.py", "espcn", "--config=espcn_jax/configs/default.py:smoke",
         f"--workdir={tmp_path / 'run'}", "--config.batch_size=0"]
  done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode == 2, done.stderr[-2000:]
  assert "error: config.batch_size must be an integer >= 1, got 0" in done.stderr
  assert "Traceback" not in done.stderr and "NaN" not in done.stderr


def test_workdir_that_cannot_be_created_is_refused_before_any_work(image_dir, tmp_path):
  (tmp_path / "file").write_text("not a folder")
  with pytest.raises(ValueError, match="cannot create the workdir"):
    train.train_and_evaluate(tiny_config(image_dir), tmp_path / "file" / "run")


def test_read_only_workdir_is_refused_before_any_work(image_dir, tmp_path, monkeypatch):
  # Root ignores chmod, so the permission check itself is simulated.
  workdir = tmp_path / "run"
  real_access = os.access
  monkeypatch.setattr(os, "access", lambda p, mode, **kw: (
      False if os.fspath(p) == os.fspath(workdir) else real_access(p, mode, **kw)))
  monkeypatch.setattr(train, "_load_data", lambda config: pytest.fail("data loaded"))
  with pytest.raises(ValueError, match=f"the workdir {workdir} is not writable"):
    train.train_and_evaluate(tiny_config(image_dir), workdir)


def _damage(workdir, step, how):
  step_dir = workdir / "ckpt" / str(step)
  if how == "metadata":
    (step_dir / "default" / "_METADATA").write_bytes(b"")
  else:   # truncate the array data files (a copy cut short)
    for data_file in (p for p in step_dir.rglob("*") if p.is_file() and p.parent.name == "d"):
      data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 2])


@pytest.mark.parametrize("how", ["truncated", "metadata"])
def test_damaged_latest_checkpoint_falls_back_to_the_older_one(image_dir, tmp_path,
                                                              straight_losses, how):
  # Issue 20: a damaged latest checkpoint stopped training instead of using the older one.
  workdir = tmp_path / "run"
  train.train_and_evaluate(tiny_config(image_dir), workdir)   # checkpoints at steps 3 and 6
  assert sorted(int(p.name) for p in (workdir / "ckpt").iterdir()) == [3, 6]
  _damage(workdir, 6, how)
  with pytest.warns(UserWarning, match="checkpoint step 6 .* is damaged .*; resuming from step 3"):
    train.train_and_evaluate(tiny_config(image_dir), workdir)
  _assert_same_losses(_losses(workdir), straight_losses)       # steps 4-6 redone identically
  assert (workdir / "ckpt_damaged" / "6").is_dir()
  ckpts = train._Checkpoints(workdir, 2)
  try:
    _, step = ckpts.restore_latest(train.create_train_state(tiny_config(image_dir),
                                                            jax.random.key(0)))
  finally:
    ckpts.close()
  assert step == 6                                             # the redone step 6 is intact


def test_no_intact_checkpoint_is_a_clear_error(image_dir, tmp_path):
  workdir = tmp_path / "run"
  train.train_and_evaluate(tiny_config(image_dir), workdir)   # checkpoints at steps 3 and 6
  _damage(workdir, 3, "metadata")
  _damage(workdir, 6, "truncated")
  with pytest.warns(UserWarning, match="damaged"):
    with pytest.raises(checkpoint.CheckpointError, match="no intact checkpoint .*steps: 6, 3"):
      train.train_and_evaluate(tiny_config(image_dir), workdir)
  assert sorted(int(p.name) for p in (workdir / "ckpt").iterdir()) == [3, 6]   # left in place
