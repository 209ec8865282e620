"""detect's compile line and its stored jax.export programs (mtcnn_jax/cascade.py).

Child processes: the line is printed once per process and canvas, and stored
programs only matter across processes (this test process keeps the cache off).
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

from espcn_mtcnn_common import compile_cache, compile_notice

REPO = pathlib.Path(__file__).resolve().parents[2]

# The embedded portrait shrunk to 120x100 (a 128x128 canvas: a short compile),
# detected twice; prints the results' bytes so that runs compare exactly.
_CHILD = """
import numpy as np
from PIL import Image
import mtcnn_jax
from mtcnn_jax.demo_faces import sample_faces
image = np.asarray(Image.fromarray(sample_faces()[0][1]).resize((100, 120)))
for _ in range(2):
  faces = mtcnn_jax.detect(image, min_face_size=24)
print("faces", len(faces))
print("bytes", faces.boxes.tobytes().hex(), faces.scores.tobytes().hex(),
      faces.landmarks.tobytes().hex())
"""
_LINE = "mtcnn_jax: compiling the cascade for a 128x128 canvas"


def _detect_in_child(cache: str, **extra) -> subprocess.CompletedProcess:
  env = dict(os.environ)
  for var in (compile_cache.ENV_VAR, "JAX_COMPILATION_CACHE_DIR", compile_notice.QUIET_ENV_VAR):
    env.pop(var, None)
  env.update({compile_cache.ENV_VAR: cache, "JAX_DISABLE_MOST_OPTIMIZATIONS": "1", **extra})
  done = subprocess.run([sys.executable, "-c", _CHILD], cwd=REPO, env=env, capture_output=True,
                        text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-2000:]
  return done


def _result(done) -> str:
  return [line for line in done.stdout.splitlines() if line.startswith("bytes")][0]


def test_one_line_per_canvas_then_a_stored_program_with_the_same_results(tmp_path):
  plain = _detect_in_child("off", **{compile_notice.QUIET_ENV_VAR: "1"})
  assert "compiling" not in plain.stderr            # the variable hides the line
  first = _detect_in_child(str(tmp_path / "xla"))
  stored = sorted((tmp_path / "xla" / compile_cache.PROGRAMS_SUBDIR).glob("*.jaxexport"))
  assert len(stored) == 1
  assert first.stderr.count(_LINE) == 1            # two calls, one canvas: one line
  written = stored[0].stat().st_mtime_ns
  second = _detect_in_child(str(tmp_path / "xla"))  # deserialised, not exported again
  assert stored[0].stat().st_mtime_ns == written
  assert "faces 0" not in plain.stdout
  assert _result(plain) == _result(first) == _result(second)

