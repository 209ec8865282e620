"""``espcn_jax.upscale`` / ``super_resolve`` say once per bucket that they compile."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import espcn_jax
from espcn_jax.model import ESPCN
from espcn_mtcnn_common import compile_notice


@pytest.fixture(autouse=True)
def _fresh_notices(monkeypatch):
  monkeypatch.setattr(compile_notice, "_announced", set())   # as in a new process
  monkeypatch.delenv(compile_notice.QUIET_ENV_VAR, raising=False)


def _params(channels=1):
  model = ESPCN(scale=3, channels=channels, features=(8, 4))
  return model.init(jax.random.key(0), jnp.zeros((1, 8, 8, channels)))["params"]


def test_one_line_per_bucket(capsys, rng):
  params = _params()
  photo = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
  espcn_jax.upscale(params, photo)
  espcn_jax.upscale(params, photo[:35, :45])          # same 64x64 bucket: no new line
  assert capsys.readouterr().err.splitlines() == [
      "espcn_jax: compiling x3 for colour images of bucket 64x64 "
      f"(once per size; {compile_notice.QUIET_ENV_VAR}=1 hides this line)"]
  espcn_jax.upscale(params, photo[:20, :20])          # a new bucket: a new line
  assert "bucket 32x32" in capsys.readouterr().err
  espcn_jax.super_resolve(_params(3), rng.random((20, 20, 3), dtype=np.float32))
  assert "LR images of bucket 32x32" in capsys.readouterr().err


def test_quiet(capsys, monkeypatch, rng):
  monkeypatch.setenv(compile_notice.QUIET_ENV_VAR, "1")
  espcn_jax.upscale(_params(), rng.integers(0, 256, (20, 20, 3), dtype=np.uint8))
  assert capsys.readouterr().err == ""
