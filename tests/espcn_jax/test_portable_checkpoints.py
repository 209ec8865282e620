"""Workdirs load and resume on any device count: 4 -> 1 and 1 -> 4 devices.

The test process has four virtual CPU devices (conftest); a one-device
process is a subprocess with ``--xla_force_host_platform_device_count=1``.
Each direction trains one tiny workdir (stopped at step 3 of 6) and hands it
to every consumer on the other device count: ``checkpoint.load_model``,
``evaluate.py espcn``, ``espcn-upscale``, ``python -m espcn_jax.model_card``,
``init_from`` and resuming training, whose losses must continue those of an
uninterrupted run.
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

import evaluate as evaluate_cli
from espcn_jax import checkpoint, cli, model_card, train
from tests.espcn_jax.helpers import tiny_config, write_images

REPO = pathlib.Path(__file__).resolve().parents[2]
STOP_AT = 3

# A child process: trains (optionally stopping at spec["stop_at"]) or loads a workdir.
_WORKER = """
import json, sys
import numpy as np
from espcn_jax import checkpoint, train
from tests.espcn_jax.helpers import tiny_config

spec = json.loads(sys.argv[1])
if spec["task"] == "load":
  for which in ("best", "latest"):
    params, info = checkpoint.load_model(spec["workdir"], which=which)
    np.savez(f"{spec['out']}/{which}.npz",
             **{f"{k}/{n}": v for k, sub in params.items() for n, v in sub.items()})
else:
  def hook(step):
    if step == spec.get("stop_at"):
      raise KeyboardInterrupt
  config = tiny_config(spec["images"], spec["images"], **spec["overrides"])
  try:
    train.train_and_evaluate(config, spec["workdir"], step_hook=hook)
  except KeyboardInterrupt:
    pass
"""


def _child(args: list[str], devices: int) -> str:
  """Runs ``python ARGS`` in the repo with ``devices`` CPU devices; returns its stdout."""
  flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "",
                 os.environ.get("XLA_FLAGS", ""))
  env = dict(os.environ, XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count={devices}",
             JAX_DISABLE_MOST_OPTIMIZATIONS="1", JAX_PLATFORMS="cpu",
             ESPCN_MTCNN_JAX_COMPILE_CACHE="off")
  result = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
  return result.stdout


def _worker(devices: int, **spec) -> None:
  _child(["-c", _WORKER, json.dumps(spec)], devices)


def _losses(workdir) -> dict[int, float]:
  lines = (pathlib.Path(workdir) / "metrics.jsonl").read_text().splitlines()
  return {r["step"]: r["loss"] for r in map(json.loads, lines)}


def _flat(params: dict) -> dict[str, np.ndarray]:
  return {f"{k}/{n}": np.asarray(v) for k, sub in params.items() for n, v in sub.items()}


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> pathlib.Path:
  return write_images(tmp_path_factory.mktemp("portable_images"))


@pytest.fixture(scope="module")
def straight(images, tmp_path_factory) -> dict[int, float]:
  """The losses of an uninterrupted one-device run."""
  workdir = tmp_path_factory.mktemp("straight")
  train.train_and_evaluate(tiny_config(images, images, num_devices=1), workdir)
  return _losses(workdir)


@pytest.fixture(scope="module")
def four_device_workdir(images, tmp_path_factory) -> pathlib.Path:
  """A workdir trained on four devices (this process), stopped at step 3 of 6."""
  workdir = tmp_path_factory.mktemp("four") / "run"

  def stop(step):
    if step == STOP_AT:
      raise KeyboardInterrupt

  assert jax.device_count() == 4, "conftest sets four host devices"
  with pytest.raises(KeyboardInterrupt):
    train.train_and_evaluate(tiny_config(images, images, num_devices=4), workdir,
                             step_hook=stop)
  return workdir


@pytest.fixture(scope="module")
def one_device_workdir(images, tmp_path_factory) -> pathlib.Path:
  """A workdir trained in a one-device process, stopped at step 3 of 6."""
  workdir = tmp_path_factory.mktemp("one") / "run"
  _worker(1, task="train", images=str(images), workdir=str(workdir), overrides={},
          stop_at=STOP_AT)
  assert sorted(_losses(workdir)) == [1, 2, 3]
  return workdir


def _assert_continues(resumed: dict[int, float], straight: dict[int, float]) -> None:
  assert sorted(resumed) == sorted(straight)
  np.testing.assert_allclose([resumed[s] for s in sorted(resumed)],
                             [straight[s] for s in sorted(straight)], rtol=1e-5)


# --------------------------------------------------------------------------- 4 -> 1


def test_four_device_workdir_loads_on_one_device(four_device_workdir, tmp_path):
  _worker(1, task="load", workdir=str(four_device_workdir), out=str(tmp_path))
  for which in ("best", "latest"):
    here, _ = checkpoint.load_model(four_device_workdir, which=which)
    with np.load(tmp_path / f"{which}.npz") as there:
      assert sorted(there.files) == sorted(_flat(here))
      for key, value in _flat(here).items():
        np.testing.assert_array_equal(there[key], value)


def test_four_device_workdir_evaluates_on_one_device(four_device_workdir, images, tmp_path):
  _child(["evaluate.py", "espcn", f"--model={four_device_workdir}", f"--data={images}",
          "--figures", "none", "--out", str(tmp_path / "eval.json"), "--no-progress"], 1)
  report = json.loads((tmp_path / "eval.json").read_text())
  assert np.isfinite(report["mean"]["psnr"])


def test_four_device_workdir_upscales_on_one_device(four_device_workdir, images, tmp_path):
  _child(["-m", "espcn_jax.cli", str(images / "img0.png"), "-o", str(tmp_path / "big.png"),
          "--model", str(four_device_workdir), "--no-progress"], 1)
  assert Image.open(tmp_path / "big.png").size == (180, 162)


def test_four_device_workdir_exports_on_one_device(four_device_workdir, tmp_path):
  _child(["-m", "espcn_jax.model_card", str(four_device_workdir),
          "--recipe=espcn_jax/configs/default.py", "--eval=", f"--out-dir={tmp_path}"], 1)
  card = json.loads((tmp_path / "espcn_x3_y.json").read_text())
  assert card["exported_step"] == STOP_AT
  here, _ = checkpoint.load_model(four_device_workdir)
  with np.load(tmp_path / "espcn_x3_y.npz") as exported:
    np.testing.assert_array_equal(exported["conv1/kernel"], here["conv1"]["kernel"])


def test_four_device_workdir_is_an_init_from_on_one_device(four_device_workdir, images,
                                                            tmp_path):
  _worker(1, task="train", images=str(images), workdir=str(tmp_path / "warm"),
          overrides={"init_from": str(four_device_workdir), "num_steps": 1,
                     "learning_rate": 0.0})
  source, _ = checkpoint.load_model(four_device_workdir)
  warm, _ = checkpoint.load_model(tmp_path / "warm", which="latest")
  for key, value in _flat(source).items():
    np.testing.assert_array_equal(_flat(warm)[key], value)


def test_four_device_run_resumes_on_one_device(four_device_workdir, images, straight, tmp_path):
  workdir = shutil.copytree(four_device_workdir, tmp_path / "run")
  _worker(1, task="train", images=str(images), workdir=str(workdir), overrides={})
  _assert_continues(_losses(workdir), straight)


# --------------------------------------------------------------------------- 1 -> 4


def test_one_device_workdir_serves_every_consumer_on_four_devices(one_device_workdir, images,
                                                                  tmp_path):
  params, info = checkpoint.load_model(one_device_workdir)
  assert info["step"] == STOP_AT and params["conv1"]["kernel"].shape == (5, 5, 1, 8)
  assert evaluate_cli.main(["espcn", f"--model={one_device_workdir}", f"--data={images}",
                            "--figures", "none", "--out", str(tmp_path / "eval.json"),
                            "--no-progress"]) == 0
  assert cli.main([str(images / "img0.png"), "-o", str(tmp_path / "big.png"),
                   "--model", str(one_device_workdir), "--no-progress"]) == 0
  model_card._main([str(one_device_workdir), "--recipe=espcn_jax/configs/default.py",
                    "--eval=", f"--out-dir={tmp_path / 'export'}"])
  with np.load(tmp_path / "export" / "espcn_x3_y.npz") as exported:
    np.testing.assert_array_equal(exported["conv1/kernel"], params["conv1"]["kernel"])
  warm = train._initial_state(tiny_config(images, init_from=str(one_device_workdir)))
  for key, value in _flat(params).items():
    np.testing.assert_array_equal(_flat(jax.device_get(warm.params))[key], value)


def test_one_device_run_resumes_on_four_devices(one_device_workdir, images, straight, tmp_path):
  workdir = shutil.copytree(one_device_workdir, tmp_path / "run")
  train.train_and_evaluate(tiny_config(images, images, num_devices=4), workdir)
  _assert_continues(_losses(workdir), straight)
