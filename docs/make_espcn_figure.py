"""Make ``docs/figures/espcn_scales.png`` and ``espcn_training_curves.png``.

The first shows the shipped ESPCN models at a glance; the second plots the
training logs that ship beside their weights (``espcn_jax/weights/*.metrics.jsonl``):
validation PSNR on the images each recipe holds out of its training pool
(``holdout:20``; never Set5 or Set14) against the step.

One row per shipped model (x2, x3, x4 Y; x3 RGB), columns LR (nearest) /
bicubic / ESPCN / HR, on a crop of the public-domain portrait that ships with
matplotlib (``espcn_mtcnn_common.demo_photo.grace_hopper``); the titles give each method's
PSNR on the whole image (Y BT.601, border = scale, MATLAB bicubic LR rounded to
8 bits, outputs rounded to 8 bits). Deterministic::

  python docs/make_espcn_figure.py [--out docs/figures/espcn_scales.png]
"""
from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np

from espcn_jax import color, data, evaluate, metrics, pretrained
from espcn_jax.infer import super_resolve
from espcn_mtcnn_common.demo_photo import grace_hopper

CROP = (150, 150, 150)   # y, x, size on the HR image: the eyes and glasses


def _y(image: np.ndarray) -> np.ndarray:
  return image[..., 0] if image.shape[-1] == 1 else color.rgb_to_y(image.astype(np.float64))


def rows() -> list[dict]:
  """One dict per shipped model: name, scale, PSNRs and the four crops (float [0, 1])."""
  photo = grace_hopper()
  out = []
  for stem in pretrained.available():
    scale, channels = int(stem.split("_")[1][1:]), 3 if stem.endswith("_rgb") else 1
    model = evaluate.resolve_model("pretrained", scale, channels=channels)
    pair = data.make_pair("grace_hopper", photo, scale, 3)       # RGB pair; Y is derived
    lr = pair.lr if channels == 3 else color.rgb_to_y(pair.lr.astype(np.float64))[..., None]
    sr = data.to_8bit_levels(np.asarray(super_resolve(model.params, lr.astype(np.float32),
                                                               scale=scale, **model.settings),
                                        np.float64))
    bicubic = data.bicubic_upscale(pair.lr.astype(np.float64), scale)
    if channels == 1:   # show Y by ESPCN with bicubic Cb/Cr, as espcn_jax.upscale does
      ycbcr = color.rgb_to_ycbcr(bicubic)
      ycbcr[..., 0] = sr[..., 0]
      sr_show = np.clip(color.ycbcr_to_rgb(ycbcr), 0, 1)
    else:
      sr_show = sr
    hr_y = _y(pair.hr)
    psnr = lambda x: metrics.psnr(_y(x) if x.shape[-1] == 3 else x[..., 0], hr_y, border=scale)
    y, x, s = CROP
    lr_crop = pair.lr[y // scale:(y + s) // scale, x // scale:(x + s) // scale]
    out.append({
        "name": stem, "scale": scale,
        "psnr_bicubic": psnr(bicubic), "psnr_espcn": psnr(sr),
        "crops": [np.repeat(np.repeat(lr_crop, scale, 0), scale, 1), bicubic[y:y + s, x:x + s],
                  sr_show[y:y + s, x:x + s], pair.hr[y:y + s, x:x + s]]})
  return out


def plot_curves(plt, path: pathlib.Path) -> None:
  """Validation PSNR (held-out training images) against the step, one panel per shipped
  model (each with its own scale: the changes are hundredths of a dB)."""
  stems = [s for s in pretrained.available()
           if (pretrained.WEIGHTS_DIR / f"{s}.metrics.jsonl").is_file()]
  cols = 3
  rows_n = -(-len(stems) // cols)
  fig, axes = plt.subplots(rows_n, cols, figsize=(10, 2.6 * rows_n), squeeze=False)
  for ax, stem in zip(axes.flat, stems):
    log = pretrained.WEIGHTS_DIR / f"{stem}.metrics.jsonl"
    records = [json.loads(l) for l in log.read_text().splitlines() if l.strip()]
    val = [r for r in records if "val_psnr" in r]
    ax.plot([r["step"] for r in val], [r["val_psnr"] for r in val], ".-")
    ax.set_title(stem, fontsize=9)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=7)
    ax.ticklabel_format(useOffset=False)
    ax.locator_params(axis="x", nbins=4)
  for ax in list(axes.flat)[len(stems):]:
    ax.axis("off")
  fig.supxlabel("step (batch 64)", fontsize=9)
  fig.supylabel("validation PSNR (dB)", fontsize=9)
  fig.suptitle("ESPCN training: PSNR on the 20 images held out of the training pool "
               "(Y models on Y, RGB models on RGB)", fontsize=10)
  fig.tight_layout()
  fig.savefig(path, dpi=90)
  plt.close(fig)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--out", default="docs/figures/espcn_scales.png")
  args = parser.parse_args()
  # matplotlib is heavy and only needed for figures; Agg must be chosen before pyplot loads.
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  table = rows()
  fig, axes = plt.subplots(len(table), 4, figsize=(10, 2.7 * len(table)), squeeze=False)
  for ax_row, r in zip(axes, table):
    titles = [f"LR x{r['scale']} (nearest)", f"bicubic {r['psnr_bicubic']:.2f} dB",
              f"{r['name']} {r['psnr_espcn']:.2f} dB", "HR"]
    for ax, title, crop in zip(ax_row, titles, r["crops"]):
      ax.imshow(np.clip(crop, 0, 1), interpolation="nearest")
      ax.set_title(title, fontsize=9)
      ax.axis("off")
  fig.suptitle("Shipped ESPCN models on grace_hopper (PSNR on the whole image, Y BT.601, "
               "border = scale)", fontsize=10)
  fig.tight_layout()
  pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(args.out, dpi=90)
  plt.close(fig)
  curves = pathlib.Path(args.out).with_name("espcn_training_curves.png")
  plot_curves(plt, curves)
  print(args.out, curves)
  for r in table:
    print(f"{r['name']:<14} bicubic {r['psnr_bicubic']:.2f} dB  ESPCN {r['psnr_espcn']:.2f} dB")


if __name__ == "__main__":
  main()
