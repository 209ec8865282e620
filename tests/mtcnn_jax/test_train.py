"""MTCNN training: the step, exact resume, data parallelism, export, bad states.

Runs use the tiny generated face set of ``helpers`` and the cascade config's
``smoke`` variant (a few steps of batch 20).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mtcnn_jax import detectors, nets, params as params_lib, train
from mtcnn_jax.params import NET_NAMES
from tests.mtcnn_jax import helpers


@pytest.fixture(scope="module")
def face_set(tmp_path_factory):
  return helpers.write_face_set(tmp_path_factory.mktemp("faces"))


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
  return tmp_path_factory.mktemp("sample_cache")


def _config(face_set, cache_dir, **overrides):
  """Smoke config on one device unless told (the four-device test compares with it)."""
  return helpers.smoke_config(face_set, cache_dir=str(cache_dir),
                              **{"num_devices": 1, **overrides})


def _losses(stage_dir):
  lines = (stage_dir / "metrics.jsonl").read_text().splitlines()
  return {r["step"]: r["loss"] for r in map(json.loads, lines)}


# --------------------------------------------------------------------------- pieces


@pytest.mark.parametrize("stage", ["pnet", "onet"])
def test_net_outputs_are_the_logits_of_the_inference_nets(stage):
  size = nets.INPUT_SIZES[stage]
  params = jax.jit(nets.NETS[stage]().init)(jax.random.key(1), jnp.zeros((1, size, size, 3)))
  params = params["params"]
  images = np.random.default_rng(0).integers(0, 256, (3, size, size, 3)).astype(np.uint8)
  logits, box, landmarks = jax.jit(train.net_outputs, static_argnums=0)(stage, params, images)
  prob, *rest = jax.jit(nets.NETS[stage]().apply)({"params": params},
                                                  (images.astype(np.float32) - 127.5) * 0.0078125)
  np.testing.assert_allclose(jax.nn.softmax(logits)[:, 1], np.reshape(prob, -1), rtol=1e-5)
  np.testing.assert_allclose(box, np.reshape(rest[0], (3, 4)), rtol=1e-5, atol=1e-6)
  assert (landmarks is None) == (stage != "onet")


def test_max_pool_gradient_is_xlas():
  """The strided-slice gradient of max_pool_ceil equals XLA's (first maximum wins on ties)."""
  x = jnp.asarray(np.random.default_rng(0).integers(0, 3, (2, 11, 9, 4)), jnp.float32)
  for window, stride in ((3, 2), (2, 2)):
    _, _, ph, pw = nets._pool_padding(x.shape, window, stride)   # pylint: disable=protected-access
    xla = lambda v, window=window, stride=stride, ph=ph, pw=pw: jax.lax.reduce_window(
        v, -jnp.inf, jax.lax.max, (1, window, window, 1), (1, stride, stride, 1),
        ((0, 0), (0, ph), (0, pw), (0, 0)))
    w = jnp.asarray(np.random.default_rng(1).normal(size=xla(x).shape), jnp.float32)
    ours = jax.jit(jax.grad(lambda v: jnp.sum(nets.max_pool_ceil(v, window, stride) * w)))(x)
    np.testing.assert_array_equal(ours, jax.grad(lambda v: jnp.sum(xla(v) * w))(x))


# --------------------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def straight(face_set, cache_dir, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("straight")
  result = train.train_stage(_config(face_set, cache_dir), workdir, "pnet")
  return workdir, result


def test_smoke_run_writes_metrics_checkpoints_and_loadable_params(straight):
  workdir, result = straight
  assert np.isfinite(result["loss"]) and "val_det" in result and "val_accuracy" in result
  assert sorted(_losses(workdir / "pnet")) == [1, 2, 3, 4, 5, 6]
  record = json.loads((workdir / "pnet" / "stage.json").read_text())
  assert record["num_steps"] == 6 and record["composition"] == {
      "negative": 12, "positive": 4, "part": 4, "landmark": 0}
  assert record["samples_total"] == record["train_samples"] + record["val_samples"]
  with np.load(workdir / "params" / "pnet.npz") as f:
    tree = params_lib.unflatten_params({k: f[k] for k in f.files})
  params_lib.check_params("pnet", tree)     # the shipped weights' format


def test_ctrl_c_then_a_crash_then_resume_give_the_losses_of_one_run(face_set, cache_dir,
                                                                     tmp_path, straight):
  def interrupt(step):
    if step == 2:
      raise KeyboardInterrupt

  def crash(step):
    if step == 5:
      raise RuntimeError("simulated crash")

  config = _config(face_set, cache_dir)
  with pytest.raises(KeyboardInterrupt):
    train.train_stage(config, tmp_path, "pnet", step_hook=interrupt)
  assert max(_losses(tmp_path / "pnet")) == 2 and (tmp_path / "pnet" / "ckpt" / "2").is_dir()
  with pytest.raises(RuntimeError):                     # the same command, crashing later
    train.train_stage(config, tmp_path, "pnet", step_hook=crash)
  assert max(_losses(tmp_path / "pnet")) == 5
  assert not (tmp_path / "pnet" / "ckpt" / "5").exists()     # steps 4-5 are lost and redone
  train.train_stage(config, tmp_path, "pnet")
  want, got = _losses(straight[0] / "pnet"), _losses(tmp_path / "pnet")
  assert sorted(got) == sorted(want)
  np.testing.assert_array_equal([got[s] for s in sorted(got)], [want[s] for s in sorted(want)])


def _truncate_a_data_file(step_dir):
  data = max((p for p in step_dir.rglob("*") if p.is_file() and p.parent.name == "d"),
             key=lambda p: p.stat().st_size)
  data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])


def _empty_metadata(step_dir):
  (step_dir / "default" / "_METADATA").write_bytes(b"")


@pytest.mark.parametrize("damage", [_truncate_a_data_file, _empty_metadata])
def test_a_damaged_latest_checkpoint_falls_back_to_the_older_one(face_set, cache_dir, tmp_path,
                                                                  straight, damage):
  shutil.copytree(straight[0] / "pnet", tmp_path / "pnet")
  ckpt = tmp_path / "pnet" / "ckpt"
  assert sorted(int(p.name) for p in ckpt.iterdir() if p.name.isdigit()) == [3, 6]
  damage(ckpt / "6")
  with pytest.warns(UserWarning, match=r"pnet: checkpoint step 6 in .* is damaged"):
    train.train_stage(_config(face_set, cache_dir), tmp_path, "pnet")
  assert (tmp_path / "pnet" / "ckpt_damaged" / "6").is_dir() and (ckpt / "6").is_dir()
  want, got = _losses(straight[0] / "pnet"), _losses(tmp_path / "pnet")
  assert sorted(got) == sorted(want)                        # steps 4-6 were redone
  np.testing.assert_array_equal([got[s] for s in sorted(got)], [want[s] for s in sorted(want)])


def test_no_intact_checkpoint_is_a_clear_error(face_set, cache_dir, tmp_path, straight):
  shutil.copytree(straight[0] / "pnet", tmp_path / "pnet")
  for step in ("3", "6"):
    _empty_metadata(tmp_path / "pnet" / "ckpt" / step)
  with pytest.warns(UserWarning, match="damaged"), pytest.raises(
      ValueError, match=r"pnet: no intact checkpoint .*\(steps \[3, 6\] damaged"):
    train.train_stage(_config(face_set, cache_dir), tmp_path, "pnet")


def test_four_devices_give_the_losses_of_one(face_set, cache_dir, tmp_path, straight):
  assert jax.device_count() == 4, "conftest sets four host devices"
  train.train_stage(_config(face_set, cache_dir, num_devices=4), tmp_path, "pnet")
  want, got = _losses(straight[0] / "pnet"), _losses(tmp_path / "pnet")
  np.testing.assert_allclose([got[s] for s in sorted(got)], [want[s] for s in sorted(want)],
                             rtol=1e-5)


# A child process that trains P-Net (optionally stopping at spec["stop_at"]).
_WORKER = """
import json, sys
from mtcnn_jax import train
from tests.mtcnn_jax import helpers

spec = json.loads(sys.argv[1])
def hook(step):
  if step == spec.get("stop_at"):
    raise KeyboardInterrupt
config = helpers.smoke_config(spec["faces"], cache_dir=spec["cache"], num_devices=0)
try:
  train.train_stage(config, spec["workdir"], "pnet", step_hook=hook)
except KeyboardInterrupt:
  pass
"""


def _train_in_child(devices: int, face_set, cache_dir, workdir, stop_at=None) -> None:
  """Trains P-Net in a process with ``devices`` CPU devices (all of them used)."""
  flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "",
                 os.environ.get("XLA_FLAGS", ""))
  env = dict(os.environ, XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count={devices}",
             JAX_DISABLE_MOST_OPTIMIZATIONS="1", JAX_PLATFORMS="cpu")
  spec = {"faces": str(face_set), "cache": str(cache_dir), "workdir": str(workdir),
          "stop_at": stop_at}
  done = subprocess.run([sys.executable, "-c", _WORKER, json.dumps(spec)], cwd=helpers.REPO,
                        env=env, capture_output=True, text=True, timeout=300, check=False)
  assert done.returncode == 0, done.stderr[-3000:]


def _assert_continues(workdir, straight):
  want, got = _losses(straight[0] / "pnet"), _losses(workdir / "pnet")
  assert sorted(got) == sorted(want)
  np.testing.assert_allclose([got[s] for s in sorted(got)], [want[s] for s in sorted(want)],
                             rtol=1e-5)


def test_a_four_device_run_resumes_on_one_device(face_set, cache_dir, tmp_path, straight):
  def interrupt(step):
    if step == 3:
      raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    train.train_stage(_config(face_set, cache_dir, num_devices=4), tmp_path, "pnet",
                      step_hook=interrupt)
  _train_in_child(1, face_set, cache_dir, tmp_path)
  _assert_continues(tmp_path, straight)
  with np.load(tmp_path / "params" / "pnet.npz") as f:
    params_lib.check_params("pnet", params_lib.unflatten_params({k: f[k] for k in f.files}))


def test_a_one_device_run_resumes_on_four_devices(face_set, cache_dir, tmp_path, straight):
  _train_in_child(1, face_set, cache_dir, tmp_path, stop_at=3)
  assert max(_losses(tmp_path / "pnet")) == 3
  train.train_stage(_config(face_set, cache_dir, num_devices=4), tmp_path, "pnet")
  _assert_continues(tmp_path, straight)


def test_nan_loss_stops_with_a_clear_error(face_set, cache_dir, tmp_path):
  with pytest.raises(FloatingPointError, match="last good checkpoint"):
    train.train_stage(_config(face_set, cache_dir, **{"pnet.learning_rate": float("nan")}),
                      tmp_path, "pnet")


def test_bad_settings_are_refused(face_set, cache_dir, tmp_path):
  with pytest.raises(ValueError, match="divisible"):
    train.train_stage(_config(face_set, cache_dir, num_devices=4, **{"pnet.batch_size": 10,
                                                                      "pnet.ratio": (3, 1, 1, 0)}),
                      tmp_path, "pnet")
  with pytest.raises(ValueError, match="no landmark head"):
    train.train_stage(_config(face_set, cache_dir, **{"pnet.ratio": (3, 1, 1, 2),
                                                      "pnet.batch_size": 21}), tmp_path, "pnet")
  with pytest.raises(FileNotFoundError, match="train pnet first"):
    train.train_stage(_config(face_set, cache_dir), tmp_path / "fresh", "rnet")
  with pytest.raises(ValueError, match="stage must be"):
    train.train_stage(_config(face_set, cache_dir), tmp_path, "qnet")


def test_a_stage_trained_on_other_samples_is_not_resumed(face_set, cache_dir, straight):
  with pytest.raises(ValueError, match="trained on other samples"):
    train.train_stage(_config(face_set, cache_dir, **{"pnet.jittered": 7}), straight[0], "pnet")


@pytest.mark.slow
def test_train_py_trains_the_whole_cascade_which_then_detects(face_set, tmp_path):
  """``python train.py mtcnn`` end to end: mining with the trained stages, export, detection."""
  landmark_set = helpers.write_landmark_set(tmp_path / "landmarks")
  workdir = tmp_path / "run"
  done = subprocess.run(
      [sys.executable, "train.py", "mtcnn", "--config=mtcnn_jax/configs/cascade.py:smoke",
       f"--workdir={workdir}", f"--config.face_annotations={face_set}",
       f"--config.landmark_annotations={landmark_set}"],
      cwd=helpers.REPO, capture_output=True, text=True, timeout=600, check=False)
  assert done.returncode == 0, done.stderr[-2000:]
  assert "onet_loss=" in done.stdout
  card = json.loads((workdir / "params" / "model_card.json").read_text())
  assert set(card["stages"]) == set(NET_NAMES)
  assert card["stages"]["onet"]["samples"]["landmark"] > 0
  params_lib.load_params(workdir / "params")
  detect = detectors.make_detector(f"mtcnn:{workdir / 'params'}")
  out = detect(np.zeros((64, 64, 3), np.uint8))
  assert out["boxes"].shape[1:] == (4,) and out["landmarks"].shape[1:] == (5, 2)


def test_model_card_records_the_real_command_with_flag_overrides(monkeypatch):
  monkeypatch.setattr("sys.argv", ["train.py", "mtcnn", "--config=mtcnn_jax/configs/cascade.py",
                                   "--workdir=runs/x", "--config.pnet.num_steps=9"])
  assert train._command_line("runs/x") == ("python train.py mtcnn --config=mtcnn_jax/configs/"
                                           "cascade.py --workdir=runs/x --config.pnet.num_steps=9")
  monkeypatch.setattr("sys.argv", ["pytest"])              # called from Python: the plain recipe
  assert train._command_line("runs/x").endswith("--config=mtcnn_jax/configs/cascade.py "
                                                "--workdir=runs/x")


@pytest.mark.parametrize("field,value", [("pnet.batch_size", 0), ("onet.num_steps", -1),
                                         ("eval_every", 0), ("rnet.learning_rate", float("nan")),
                                         ("stage", "qnet")])
def test_impossible_settings_are_refused_before_any_work(tmp_path, field, value):
  config = helpers.smoke_config(str(tmp_path / "never_read.json"))
  node, _, key = field.rpartition(".")
  (config[node] if node else config)[key] = value
  with pytest.raises(ValueError, match=f"config.{field} must be"):
    train.train_and_evaluate(config, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def test_a_workdir_that_cannot_be_created_is_refused_before_any_work(tmp_path):
  (tmp_path / "file").write_text("x")
  config = helpers.smoke_config(str(tmp_path / "never_read.json"))
  with pytest.raises(ValueError, match="cannot create the workdir"):
    train.train_and_evaluate(config, str(tmp_path / "file" / "run"))

