"""ESPCN evaluation: per-image and mean PSNR / SSIM / cosine similarity, figures.

Protocol (stated in every report): LR from MATLAB-style antialiased bicubic
``imresize`` (rounded to 8 bits) of the mod-cropped HR image; outputs rounded
to 8 bits; metrics in float64 on BT.601 Y (16-235, MATLAB ``rgb2ycbcr``) with
``border = scale`` pixels removed (RGB as an option). The bicubic baseline is
MATLAB ``imresize(lr, r)`` of the same LR image.
"""
from __future__ import annotations

import json
import os
import pathlib
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from espcn_jax import checkpoint, color, data, metrics, pretrained
from espcn_jax.infer import super_resolve, super_resolve_self_ensemble
from espcn_mtcnn_common import image_io
from espcn_mtcnn_common.atomic_write import write_json_atomic

__all__ = ["ModelSpec", "resolve_model", "evaluate", "format_table", "write_figures",
           "protocol_description"]


class ModelSpec:
  """A model to evaluate: its name, params (``None`` for bicubic) and info."""

  def __init__(self, name: str, params=None, info: dict | None = None, workdir=None):
    self.name, self.params, self.info, self.workdir = name, params, info or {}, workdir

  @property
  def channels(self) -> int:
    return self.info.get("channels", 1)

  @property
  def settings(self) -> dict:
    """Keyword arguments of ``super_resolve``/``upscale`` that params do not record."""
    return {"activation": self.info.get("activation", "tanh"),
            "centre": self.info.get("centre", 0.5)}


def resolve_model(model: str, scale: int, which: str = "best",
                  channels: int | None = None) -> ModelSpec:
  """``"bicubic"``, ``"pretrained"`` or a checkpoint folder -> :class:`ModelSpec`.

  ``which`` picks a workdir's ``"best"`` (validation PSNR) or ``"latest"``
  checkpoint. ``channels`` (1 = Y, 3 = RGB) picks the shipped model; for a
  workdir it is checked when given. Default: Y.
  """
  if model == "bicubic":
    return ModelSpec("bicubic", info={"channels": 1, "scale": scale})
  if model == "pretrained":
    params, info = pretrained.load_pretrained(scale, channels or 1)
    suffix = "_rgb" if (channels or 1) == 3 else ""
    return ModelSpec(f"espcn_pretrained_x{scale}{suffix}", params, info)
  params, info = checkpoint.load_model(model, scale=scale, which=which, channels=channels)
  return ModelSpec(f"espcn[{pathlib.Path(model).name}]", params, info, workdir=model)


def protocol_description(scale: int, eval_space: str, degradation: str) -> str:
  space = "Y channel BT.601 (16-235)" if eval_space == "y" else "RGB"
  deg = {"bicubic": "MATLAB-style antialiased bicubic imresize",
         "gaussian": "7x7 Gaussian blur (sigma 1.6) + subsampling",
         "opencv": "cv2.resize INTER_CUBIC (no antialiasing)"}[degradation]
  return (f"x{scale}; LR: {deg} of the mod-cropped HR, rounded to 8 bits; outputs rounded "
          f"to 8 bits; metrics on {space}, border = {scale} px, float64; cosine similarity "
          "over 3x3 neighbourhoods")


def _to_eval_space(image: np.ndarray, eval_space: str) -> np.ndarray:
  """Model-space image ``[H, W, C]`` -> what metrics compare (Y ``[H, W]`` or RGB)."""
  if eval_space == "y":
    return image[..., 0] if image.shape[-1] == 1 else color.rgb_to_y(image.astype(np.float64))
  if image.shape[-1] == 1:
    raise ValueError("RGB evaluation needs an RGB model (channels=3)")
  return image


def _scores(output, reference, scale, eval_space) -> dict[str, float]:
  a, b = _to_eval_space(output, eval_space), _to_eval_space(reference, eval_space)
  return {"psnr": metrics.psnr(a, b, border=scale), "ssim": metrics.ssim(a, b, border=scale),
          "cosine": metrics.cosine_similarity(a, b, border=scale)}


def _quantize(x):
  return data.to_8bit_levels(np.asarray(x, np.float64))


def _eval_channels(model: ModelSpec, eval_space: str) -> int:
  """Channels of the pairs to load: the model's, or 3 for an RGB evaluation."""
  if eval_space not in ("y", "rgb"):
    raise ValueError(f"eval_space must be 'y' or 'rgb', got {eval_space!r}")
  if eval_space == "rgb" and model.channels == 1 and model.params is not None:
    raise ValueError("a Y-channel model cannot be evaluated in RGB; use eval_space='y'")
  return 3 if eval_space == "rgb" else model.channels


def _evaluate_pair(pair: data.SRPair, scale: int, model: ModelSpec, eval_space: str,
                   self_ensemble: bool = False) -> tuple[dict, np.ndarray, np.ndarray]:
  """One image's scores.

  Returns:
    ``(row, bicubic, output)``: the report row (name, HR size, model scores,
    ``"bicubic"`` scores) and both upscaled images, float64 ``[H, W, C]`` on
    8-bit levels (``output`` is ``bicubic`` when the model is bicubic).
  """
  bicubic = _quantize(data.bicubic_upscale(pair.lr, scale))
  row = {"name": pair.name, "hr_size": list(pair.hr.shape[:2])}
  row["bicubic"] = _scores(bicubic, pair.hr, scale, eval_space)
  if model.params is None:
    output = bicubic
    row.update(row["bicubic"])
  else:
    run = super_resolve_self_ensemble if self_ensemble else super_resolve
    output = _quantize(run(model.params, pair.lr, scale=scale, **model.settings))
    row.update(_scores(output, pair.hr, scale, eval_space))
  return row, bicubic, output


def _save_output(output: np.ndarray, folder: str | os.PathLike, name: str) -> None:
  """Write a model-space output ``[H, W, C]`` in [0, 1] as ``folder/NAME.png`` (8-bit)."""
  out = np.round(output * 255).astype(np.uint8)
  image_io.write_image(pathlib.Path(folder) / f"{name}.png",
                       out[..., 0] if out.shape[-1] == 1 else out)


def _report(rows: list[dict], data_source, scale: int, model: ModelSpec, eval_space: str,
            degradation: str) -> dict:
  """The result of :func:`evaluate` (without ``arrays``) from its per-image rows."""
  mean = lambda key, sub=None: float(np.mean([(r[sub] if sub else r)[key] for r in rows]))
  result = {
      "model": model.name,
      "scale": scale,
      "eval_space": eval_space,
      "degradation": degradation,
      "protocol": protocol_description(scale, eval_space, degradation),
      "data": data_source if isinstance(data_source, str) else list(map(str, data_source)),
      "num_images": len(rows),
      "mean": {k: mean(k) for k in ("psnr", "ssim", "cosine")},
      "bicubic_mean": {k: mean(k, "bicubic") for k in ("psnr", "ssim", "cosine")},
      "images": rows,
  }
  if model.info:
    result["model_info"] = {k: v for k, v in model.info.items() if k != "params"}
  return result


def evaluate(data_source: str | Sequence[str], scale: int, model: ModelSpec, *,
             eval_space: str = "y", degradation: str = "bicubic", self_ensemble: bool = False,
             save_images: str | os.PathLike | None = None,
             progress: bool = True, keep_outputs: bool = False) -> dict:
  """Evaluate a model (and the bicubic baseline) on a data source.

  Args:
    data_source: folder(s), ``"tfds:NAME[:SPLIT]"`` or ``"samples"``.
    scale: upscaling factor.
    model: from :func:`resolve_model`.
    eval_space: ``"y"`` (the literature's) or ``"rgb"``.
    degradation: ``"bicubic"``, ``"gaussian"`` or ``"opencv"`` (see :mod:`espcn_jax.data`).
    self_ensemble: average the outputs for the 8 flips/rotations of each LR
      image (:func:`espcn_jax.infer.super_resolve_self_ensemble`, "ESPCN+").
    save_images: folder to write each output as ``NAME.png`` (8-bit; Y
      models write the Y image, RGB models the RGB image).
    keep_outputs: also return the arrays (``result["arrays"]``) for figures.

  Returns:
    ``{"model", "scale", "protocol", "mean": {psnr, ssim, cosine},
    "bicubic_mean": {...}, "images": [{"name", "psnr", ..., "bicubic": {...}}]}``.
  """
  channels = _eval_channels(model, eval_space)
  # Models need at least one LR pixel per side; metrics need 11 px after the border.
  pairs = data.load_pairs(data_source, scale, channels, degradation=degradation,
                          min_lr_size=max(2, -(-(11 + 2 * scale) // scale)))
  rows, arrays = [], []
  for pair in tqdm(pairs, desc=f"evaluate {model.name} x{scale}", disable=not progress):
    row, bicubic, output = _evaluate_pair(pair, scale, model, eval_space, self_ensemble)
    rows.append(row)
    if save_images is not None:
      _save_output(output, save_images, pair.name)
    if keep_outputs:
      arrays.append({"name": pair.name, "lr": pair.lr, "hr": pair.hr, "bicubic": bicubic,
                     "output": output})
  result = _report(rows, data_source, scale, model, eval_space, degradation)
  result["self_ensemble"] = self_ensemble
  if self_ensemble:
    result["model"] += "+"   # the literature's name for a self-ensembled model ("ESPCN+")
  if keep_outputs:
    result["arrays"] = arrays
  return result


def format_table(result: dict) -> str:
  """A fixed-width table of per-image and mean scores."""
  has_model = result["model"] != "bicubic"
  head = f"{'image':<16} {'size':>9} | {'bicubic PSNR':>12} {'SSIM':>6} {'cos':>6}"
  if has_model:
    head += f" | {'model PSNR':>10} {'SSIM':>6} {'cos':>6} | {'gain dB':>7}"
  lines = [f"{result['model']} — {result['protocol']}", head, "-" * len(head)]

  def line(name, size, b, m):
    s = f"{name:<16} {size:>9} | {b['psnr']:>12.3f} {b['ssim']:>6.4f} {b['cosine']:>6.4f}"
    if has_model:
      s += f" | {m['psnr']:>10.3f} {m['ssim']:>6.4f} {m['cosine']:>6.4f} | {m['psnr'] - b['psnr']:>+7.3f}"
    return s

  for r in result["images"]:
    lines.append(line(r["name"][:16], "x".join(map(str, r["hr_size"][::-1])), r["bicubic"], r))
  lines.append("-" * len(head))
  lines.append(line("mean", f"{result['num_images']} img", result["bicubic_mean"], result["mean"]))
  return "\n".join(lines)


def _crop_box(a: np.ndarray, b: np.ndarray, size: int) -> tuple[int, int, int]:
  """Square crop where ``a`` gains most over ``b`` (squared-error reduction)."""
  gain = b - a
  h, w = gain.shape
  size = min(size, h, w)
  integral = np.pad(gain.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
  sums = (integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size]
          + integral[:-size, :-size])
  y, x = np.unravel_index(np.argmax(sums), sums.shape)
  return int(y), int(x), size


def _show(image: np.ndarray) -> np.ndarray:
  return image[..., 0] if image.shape[-1] == 1 else np.clip(image, 0, 1)


def _panels_figure(plt, item: dict, row: dict, result: dict, crop: int):
  """LR (nearest) / bicubic / model / HR crops where the model gains most over bicubic.

  Args:
    plt: ``matplotlib.pyplot``.
    item: one entry of ``result["arrays"]`` (``lr``, ``hr``, ``bicubic``,
      ``output``: float ``[H, W, C]`` in [0, 1]).
    row: its entry of ``result["images"]`` (PSNRs for the titles).
    result: the :func:`evaluate` result (scale, space, model name).
    crop: side of the HR crop (pixels).

  Returns:
    The matplotlib figure.
  """
  scale, space = result["scale"], result["eval_space"]
  hr, bic, out, lr = item["hr"], item["bicubic"], item["output"], item["lr"]
  err = lambda x: ((_to_eval_space(x, space) - _to_eval_space(hr, space)) ** 2).reshape(
      hr.shape[0], hr.shape[1], -1).mean(-1)
  y, x, size = _crop_box(err(out), err(bic), crop)
  ly, lx, ls = y // scale, x // scale, max(size // scale, 1)
  cmap = "gray" if hr.shape[-1] == 1 else None
  panels = [("LR (nearest)", np.repeat(np.repeat(lr[ly:ly + ls, lx:lx + ls], scale, 0), scale, 1)),
            (f"bicubic {row['bicubic']['psnr']:.2f} dB", bic[y:y + size, x:x + size]),
            (f"{result['model']} {row['psnr']:.2f} dB", out[y:y + size, x:x + size]),
            ("HR", hr[y:y + size, x:x + size])]
  fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
  for ax, (title, img) in zip(axes, panels):
    ax.imshow(_show(img), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
  fig.suptitle(f"{item['name']} x{scale}: crop {size}x{size} at ({x}, {y})", fontsize=10)
  fig.tight_layout()
  return fig


def _cosine_figure(plt, item: dict, result: dict):
  """Cosine-similarity maps to HR of bicubic and of the model, side by side (a figure)."""
  scale, space, hr = result["scale"], result["eval_space"], item["hr"]
  maps = [metrics.cosine_similarity_map(_to_eval_space(o, space), _to_eval_space(hr, space),
                                        border=scale) for o in (item["bicubic"], item["output"])]
  lo = min(float(np.percentile(m, 1)) for m in maps)
  fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
  for ax, m, title in zip(axes, maps, ("bicubic", result["model"])):
    im = ax.imshow(m, cmap="magma", vmin=lo, vmax=1.0)
    ax.set_title(f"{title}: mean cosine {m.mean():.4f}", fontsize=9)
    ax.axis("off")
  fig.colorbar(im, ax=axes, shrink=0.8, label="cosine similarity (3x3)")
  fig.suptitle(f"{item['name']} x{scale}: per-pixel cosine similarity to HR", fontsize=10)
  return fig


def _training_curve_figure(plt, records: list[dict]):
  """Training loss (log scale) and validation PSNR against the step (a figure)."""
  fig, ax = plt.subplots(figsize=(7, 4))
  ax.plot([r["step"] for r in records], [r["loss"] for r in records], "b-", label="train loss")
  ax.set_yscale("log")
  ax.set_xlabel("step")
  ax.set_ylabel("loss", color="b")
  val = [r for r in records if "val_psnr" in r]
  if val:
    ax2 = ax.twinx()
    ax2.plot([r["step"] for r in val], [r["val_psnr"] for r in val], "r.-", label="val PSNR")
    ax2.set_ylabel("validation PSNR (dB)", color="r")
  ax.set_title("ESPCN training")
  fig.tight_layout()
  return fig


def _read_metrics_log(path: str | os.PathLike | None) -> list[dict]:
  """The records of a ``metrics.jsonl`` ([] when there is no such file)."""
  if path is None or not pathlib.Path(path).is_file():
    return []
  return [json.loads(l) for l in pathlib.Path(path).read_text().splitlines() if l.strip()]


def write_figures(result: dict, folder: str | os.PathLike, *,
                  metrics_log: str | os.PathLike | None = None, max_images: int = 6,
                  crop: int = 96) -> list[pathlib.Path]:
  """Write PNG figures for an :func:`evaluate` result made with ``keep_outputs=True``.

  * ``panels_NAME.png``: LR (nearest) / bicubic / model / HR crops where the
    model gains most, with PSNR in the titles;
  * ``cosine_NAME.png``: cosine-similarity maps of bicubic and the model;
  * ``training_curve.png``: loss and validation PSNR from ``metrics.jsonl``.

  Returns:
    The paths written.
  """
  # matplotlib is heavy and only needed for figures: imported on first use.
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel

  folder = pathlib.Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  written = []

  def save(fig, filename: str) -> None:
    fig.savefig(folder / filename, dpi=100)
    plt.close(fig)
    written.append(folder / filename)

  rows = {r["name"]: r for r in result["images"]}
  for item in result.get("arrays", [])[:max_images]:
    name = item["name"]
    save(_panels_figure(plt, item, rows[name], result, crop), f"panels_{name}.png")
    save(_cosine_figure(plt, item, result), f"cosine_{name}.png")
  records = _read_metrics_log(metrics_log)
  if records:
    save(_training_curve_figure(plt, records), "training_curve.png")
  return written


def save_json(result: dict, path: str | os.PathLike) -> None:
  clean = {k: v for k, v in result.items() if k != "arrays"}
  write_json_atomic(path, clean, indent=2)   # folders are created
