"""Multi-host data parallelism for real: two processes on localhost (CPU, gloo).

Each process is ``python train.py TASK ... --distributed`` with one CPU
device; together they must reproduce the losses of one process with one
device (rtol 1e-5). Killing one stops the other with a message instead of a
hang, and re-running both resumes.
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from espcn_jax import train as espcn_train
from espcn_jax.configs import default as espcn_default
from mtcnn_jax import train as mtcnn_train
from tests.mtcnn_jax import helpers as mtcnn_helpers

REPO = pathlib.Path(__file__).resolve().parents[1]

# The ESPCN smoke config, shortened.
ESPCN_OVERRIDES = {"num_steps": 6, "log_every": 1, "eval_every": 3, "checkpoint_every": 3,
                   "progress_bar": False}


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _env() -> dict:
  flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "",
                 os.environ.get("XLA_FLAGS", ""))
  return dict(os.environ, XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count=1",
              JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1",
              ESPCN_MTCNN_JAX_COMPILE_CACHE="off")


def _launch(workdir, overrides: dict, port: int, task: str = "espcn") -> list[subprocess.Popen]:
  """Both processes of a smoke run of ``task`` on ``workdir`` (process 1 started first)."""
  config = {"espcn": "espcn_jax/configs/default.py:smoke",
            "mtcnn": "mtcnn_jax/configs/cascade.py:smoke"}[task]
  args = [sys.executable, "train.py", task, f"--config={config}",
          f"--workdir={workdir}", *(f"--config.{k}={v}" for k, v in overrides.items()),
          "--distributed", f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
          "--heartbeat_timeout=10"]
  return [subprocess.Popen(args + [f"--process_id={i}"], cwd=REPO, env=_env(), text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
          for i in (1, 0)][::-1]


def _finish(procs: list[subprocess.Popen], timeout: float = 240) -> list[tuple[int, str, str]]:
  out = []
  for p in procs:
    stdout, stderr = p.communicate(timeout=timeout)
    out.append((p.returncode, stdout, stderr))
  return out


def _losses(workdir) -> dict[int, float]:
  lines = (pathlib.Path(workdir) / "metrics.jsonl").read_text().splitlines()
  return {r["step"]: r["loss"] for r in map(json.loads, lines)}


def _espcn_reference(workdir, overrides: dict) -> dict[int, float]:
  """The losses of the same ESPCN run in this process on one device."""
  config = espcn_default.get_config("smoke")
  for k, v in overrides.items():
    config[k] = v
  config.num_devices = 1
  espcn_train.train_and_evaluate(config, workdir)
  return _losses(workdir)


def _mtcnn_reference(workdir, overrides: dict) -> dict[int, float]:
  """The losses of the same P-Net run in this process on one device."""
  config = mtcnn_helpers.smoke_config(overrides["face_annotations"], num_devices=1,
                                      **{k: v for k, v in overrides.items()
                                         if k not in ("stage", "face_annotations")})
  mtcnn_train.train_stage(config, workdir, "pnet")
  return _losses(workdir / "pnet")


def _assert_same(got: dict[int, float], want: dict[int, float]) -> None:
  assert sorted(got) == sorted(want)
  np.testing.assert_allclose([got[s] for s in sorted(got)], [want[s] for s in sorted(want)],
                             rtol=1e-5)


def test_two_processes_reproduce_one(tmp_path):
  results = _finish(_launch(tmp_path / "two", ESPCN_OVERRIDES, _free_port()))
  for code, _, stderr in results:
    assert code == 0, stderr[-3000:]
  assert "loss=" in results[0][1] and "loss=" not in results[1][1]   # process 0 reports
  assert {p.name for p in (tmp_path / "two").iterdir()} >= {"ckpt", "best", "metrics.jsonl",
                                                           "model.json"}
  _assert_same(_losses(tmp_path / "two"), _espcn_reference(tmp_path / "one", ESPCN_OVERRIDES))


def test_two_processes_reproduce_one_for_mtcnn(tmp_path):
  overrides = {"stage": "pnet", "face_annotations": mtcnn_helpers.write_face_set(tmp_path / "f")}
  results = _finish(_launch(tmp_path / "two", overrides, _free_port(), task="mtcnn"))
  for code, _, stderr in results:
    assert code == 0, stderr[-3000:]
  assert (tmp_path / "two" / "params" / "pnet.npz").is_file()
  _assert_same(_losses(tmp_path / "two" / "pnet"), _mtcnn_reference(tmp_path / "one", overrides))


@pytest.mark.slow
@pytest.mark.parametrize("task", ["espcn", "mtcnn"])
def test_killing_one_process_stops_the_other_and_both_resume(task, tmp_path):
  # Checkpoints at every step keep the run going long enough to be killed midway.
  if task == "espcn":
    overrides, log_dir = dict(ESPCN_OVERRIDES, num_steps=12, checkpoint_every=1,
                              eval_every=6), tmp_path / "two"
  else:
    overrides = {"stage": "pnet", "face_annotations": mtcnn_helpers.write_face_set(tmp_path / "f"),
                 "pnet.num_steps": 12, "checkpoint_every": 1, "eval_every": 6}
    log_dir = tmp_path / "two" / "pnet"
  procs = _launch(tmp_path / "two", overrides, _free_port(), task=task)
  deadline = time.monotonic() + 180
  while not (log_dir / "metrics.jsonl").exists() or max(_losses(log_dir), default=0) < 3:
    assert time.monotonic() < deadline and procs[0].poll() is None, "the run did not start"
    time.sleep(0.2)
  procs[1].send_signal(signal.SIGKILL)
  start = time.monotonic()
  code, _, stderr = _finish(procs[:1], timeout=120)[0]
  procs[1].wait()
  assert code != 0 and time.monotonic() - start < 120
  assert ("re-run every process" in stderr or "another task died" in stderr), stderr[-3000:]
  assert max(_losses(log_dir)) < 12

  results = _finish(_launch(tmp_path / "two", overrides, _free_port(), task=task))
  for code, _, stderr in results:
    assert code == 0, stderr[-3000:]
  assert "Resuming" in results[0][1]
  reference = (_espcn_reference if task == "espcn" else _mtcnn_reference)(tmp_path / "one",
                                                                          overrides)
  _assert_same(_losses(log_dir), reference)
