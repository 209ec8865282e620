"""The scripts in examples/ (detect_faces.py, upscale_photo.py) run as a user runs them:
in a fresh process, from another folder, writing only to the folder given."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
from PIL import Image

REPO = pathlib.Path(__file__).resolve().parents[1]


def _run(script: str, out: pathlib.Path, *args: str) -> str:
  env = dict(os.environ)
  # Faster compiles in the child, as in this test process (tests/conftest.py).
  env["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1"
  env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
  result = subprocess.run([sys.executable, str(REPO / "examples" / script), "--out", str(out),
                           *args], cwd=out.parent, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stdout


def test_detect_faces_example(tmp_path):
  out = tmp_path / "faces"
  stdout = _run("detect_faces.py", out)
  lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
  assert len(lines) == 6                       # the six faces of the collage
  assert set(lines[0]) == {"box", "confidence", "keypoints"}
  assert set(lines[0]["keypoints"]) == {"left_eye", "right_eye", "nose", "mouth_left",
                                        "mouth_right"}
  assert "largest face: box" in stdout
  assert json.loads((out / "faces.json").read_text()) == lines
  crop = np.asarray(Image.open(out / "crop_0.png"))
  assert crop.shape == (160, 160, 3)
  assert np.asarray(Image.open(out / "aligned_5.png")).shape == (112, 112, 3)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["faces"]     # nothing written beside


def test_upscale_photo_example(tmp_path):
  out = tmp_path / "sr"
  stdout = _run("upscale_photo.py", out)
  line = next(s for s in stdout.splitlines() if s.startswith("x3 PSNR"))
  bicubic, espcn = (float(part.split()[-2]) for part in line.split(":")[1].split(","))
  assert espcn > bicubic + 1.0                 # the shipped x3 model beats bicubic clearly
  assert np.asarray(Image.open(out / "espcn_rgba.png")).shape == (600, 510, 4)
  assert sorted(p.name for p in out.iterdir()) == ["bicubic.png", "espcn.png", "espcn_rgba.png",
                                                   "lr.png"]
  assert sorted(p.name for p in tmp_path.iterdir()) == ["sr"]
