"""Shared test setup.

* Four virtual CPU devices (set before JAX is imported) so that data-parallel
  training is tested on CPU exactly as it runs on a TPU host.
* The CLIs' compilation cache off (no writes to ~/.cache).
* ``shared_data``: the ../shared/data folder; tests that need it skip with a
  reason when it is absent, and fail instead when REQUIRE_SHARED_DATA=1 (CI).
"""
from __future__ import annotations

import os
import pathlib

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=4").strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The CLIs' persistent compilation cache stays off: tests that run a CLI must not
# write into ~/.cache (tests/espcn_mtcnn_common/test_compile_cache.py turns it on in children).
os.environ["ESPCN_MTCNN_JAX_COMPILE_CACHE"] = "off"

import jax  # noqa: E402  (after XLA_FLAGS on purpose)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Faster compiles; numerics are unchanged for these small programs.
jax.config.update("jax_disable_most_optimizations", True)

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("SHARED_DATA_DIR", REPO.parent / "shared" / "data"))


def _need_shared(path: pathlib.Path) -> pathlib.Path:
  if path.exists():
    return path
  reason = f"{path} is absent (the research datasets live in ../shared/data beside the clone)"
  if os.environ.get("REQUIRE_SHARED_DATA") == "1":
    pytest.fail(f"REQUIRE_SHARED_DATA=1 but {reason}")
  pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
  """``../shared/data``; skips (or fails under REQUIRE_SHARED_DATA=1) when missing."""
  return _need_shared(SHARED_DATA)


@pytest.fixture(scope="session")
def sr_data(shared_data) -> pathlib.Path:
  return _need_shared(shared_data / "sr")


@pytest.fixture
def rng() -> np.random.Generator:
  return np.random.default_rng(0)
