"""ESPCN super-resolution with onnxruntime and NumPy alone, from an exported ONNX model.

Export a shipped model, then upscale a picture::

  python export.py espcn --format=onnx --model=pretrained --scale=3 --out=exported/
  python examples/espcn_onnxruntime.py exported/espcn_x3_y.onnx photo.png -o photo_x3.png \\
      [--reference photo_hr.png]

Needs only NumPy, onnxruntime and Pillow (not JAX, not this repository's
packages). The model's scale and channel count come from the ONNX file's
metadata. With the Y model (channels 1), as ``espcn_jax.upscale``: RGB ->
BT.601 YCbCr (MATLAB's ``rgb2ycbcr``), Y through ESPCN, Cb and Cr bicubic
(Pillow's, not MATLAB's), back to RGB; a grey picture is used as Y. The RGB
model (channels 3) takes RGB. Outputs are clipped to [0, 1] and rounded to 8
bits (half away from zero, as MATLAB).

``--reference HR`` prints the literature's PSNR: BT.601 Y, ``scale`` border
pixels removed, float64, the HR cropped to the output's size (mod-crop). Given
the protocol's LR (MATLAB bicubic of the HR's Y, rounded to 8 bits, saved as a
grey PNG) it equals ``espcn_jax``'s figure (tests/test_examples_onnx.py).
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

# MATLAB's rgb2ycbcr for inputs in [0, 1], outputs on the 0-255 scale (rows: Y, Cb, Cr).
RGB_TO_YCBCR = np.array([[65.481, 128.553, 24.966],
                         [-37.797, -74.203, 112.0],
                         [112.0, -93.786, -18.214]]) / 255.0
YCBCR_OFFSET = np.array([16.0, 128.0, 128.0]) / 255.0


def load_model(path: str):
  """``(session, scale, channels)`` of an exported ESPCN (scale and channels from metadata).

  Raises:
    ValueError: not an ONNX model, or not one that ``export.py espcn`` wrote.
  """
  try:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
  except Exception as e:   # onnxruntime's load errors derive from Exception only
    raise ValueError(f"{path}: not a readable ONNX model ({str(e).splitlines()[0]})") from None
  meta = session.get_modelmeta().custom_metadata_map
  if "scale" not in meta or "channels" not in meta:
    raise ValueError(f"{path}: not an ESPCN exported by export.py (no scale/channels metadata)")
  return session, int(meta["scale"]), int(meta["channels"])


def run_network(session, planes: np.ndarray) -> np.ndarray:
  """``planes [h, w, C]`` float in [0, 1] -> ``[r*h, r*w, C]`` float32 (not clipped)."""
  x = np.ascontiguousarray(planes.transpose(2, 0, 1)[None], np.float32)   # NCHW
  return session.run(["sr"], {"lr": x})[0][0].transpose(1, 2, 0)


def to_8bit_levels(x: np.ndarray) -> np.ndarray:
  """Clip to [0, 1] and round to 8-bit levels, half away from zero; float64 in [0, 1]."""
  return np.floor(np.clip(np.asarray(x, np.float64) * 255.0, 0.0, 255.0) + 0.5) / 255.0


def bicubic(plane: np.ndarray, scale: int) -> np.ndarray:
  """One float plane ``[h, w]`` upscaled bicubically (Pillow) to ``[r*h, r*w]``."""
  image = Image.fromarray(plane.astype(np.float32), mode="F")
  return np.asarray(image.resize((plane.shape[1] * scale, plane.shape[0] * scale),
                                 Image.Resampling.BICUBIC), np.float64)


def upscale(session, scale: int, channels: int, image: np.ndarray) -> np.ndarray:
  """uint8 ``[h, w]`` grey or ``[h, w, 3]`` RGB -> float64 in [0, 1] at 8-bit levels,
  ``[r*h, r*w]`` or ``[r*h, r*w, 3]``."""
  x = image.astype(np.float64) / 255.0
  if channels == 3:
    rgb = x if x.ndim == 3 else np.repeat(x[..., None], 3, axis=-1)
    return to_8bit_levels(run_network(session, rgb))
  if x.ndim == 2:
    return to_8bit_levels(run_network(session, x[..., None])[..., 0])
  ycbcr = x @ RGB_TO_YCBCR.T + YCBCR_OFFSET
  y = np.clip(run_network(session, ycbcr[..., :1])[..., 0], 0.0, 1.0)
  cb, cr = bicubic(ycbcr[..., 1], scale), bicubic(ycbcr[..., 2], scale)
  big = np.stack([y, cb, cr], axis=-1) - YCBCR_OFFSET
  return to_8bit_levels(big @ np.linalg.inv(RGB_TO_YCBCR).T)


def luma(x: np.ndarray) -> np.ndarray:
  """BT.601 Y of RGB ``[..., 3]`` in [0, 1]; a grey ``[h, w]`` image is Y already."""
  return x if x.ndim == 2 else x @ RGB_TO_YCBCR[0] + YCBCR_OFFSET[0]


def psnr_y(output: np.ndarray, reference_uint8: np.ndarray, border: int) -> float:
  """PSNR (dB, peak 255) on Y, ``border`` pixels removed, the reference mod-cropped."""
  ref = reference_uint8[:output.shape[0], :output.shape[1]].astype(np.float64) / 255.0
  if ref.shape[:2] != output.shape[:2]:
    raise ValueError(f"reference {reference_uint8.shape[:2]} is smaller than the output "
                     f"{output.shape[:2]}")
  a = luma(output)[border:-border, border:-border] * 255.0
  b = luma(ref)[border:-border, border:-border] * 255.0
  mse = np.mean((a - b) ** 2)
  return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))


def read_picture(path: str) -> np.ndarray:
  """uint8 ``[h, w]`` for grey files, ``[h, w, 3]`` RGB otherwise (EXIF orientation applied)."""
  with Image.open(path) as im:
    im = ImageOps.exif_transpose(im)
    return np.asarray(im.convert("L" if im.mode in ("L", "I;16", "I") else "RGB"))


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("model", help="an exported ESPCN .onnx file")
  parser.add_argument("image", help="the low-resolution picture")
  parser.add_argument("-o", "--output", default=None, help="write the upscaled picture here (PNG)")
  parser.add_argument("--reference", default=None,
                      help="the high-resolution picture: print PSNR on Y (border = scale)")
  args = parser.parse_args(argv)
  try:
    session, scale, channels = load_model(args.model)
    result = upscale(session, scale, channels, read_picture(args.image))
  except (OSError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  report = {"image": args.image, "scale": scale, "channels": channels,
            "output_size": list(result.shape[:2])}
  if args.output:
    Image.fromarray(np.round(result * 255.0).astype(np.uint8)).save(args.output)
    report["output"] = args.output
  if args.reference:
    report["psnr_y"] = psnr_y(result, read_picture(args.reference), border=scale)
  print(json.dumps(report))
  return 0


if __name__ == "__main__":
  sys.exit(main())
