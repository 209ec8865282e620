"""Face-detection report: PR and ROC figures, sample detections, one Markdown file.

Inputs are what :mod:`mtcnn_jax.average_precision` and :mod:`mtcnn_jax.run_eval`
produce:

* ``curves``: detector name -> an :func:`average_precision.evaluate_detections`
  result (``ap``, ``pr_recall``, ``pr_precision``/``pr_precision_interp``,
  ``roc_tp``, ``roc_fp``, ``num_gt``, ``num_images``, ``iou_threshold``,
  ``min_face``). Arrays may be NumPy arrays or lists (a result read back from
  JSON); a detector without detections (empty curves) is drawn as a legend
  entry only.
* ``report``: the dict ``run_eval.run`` writes (``data``, ``num_images``,
  ``min_face``, ``protocol``, ``detectors: {name: {ap, ap@0.4, recall,
  precision, recall_at_fp_per_image, median_ms, settings, ...}}``).

Figures: Agg backend, explicit sizes, titles that say what is shown, PNG at
100 dpi.
"""
from __future__ import annotations

import json
import math
import os
import pathlib
import types
from typing import Any, Mapping, Sequence

import numpy as np
from PIL import Image

from espcn_mtcnn_common.atomic_write import write_text_atomic
from mtcnn_jax import draw

__all__ = ["plot_pr_curves", "plot_roc", "plot_sample_grid", "write_markdown", "write_all"]

DPI = 100
GT_KEY = "gt"
GT_COLOUR = (255, 230, 0)          # ground-truth boxes: yellow
IGNORE_COLOUR = (150, 150, 150)    # ignore regions: grey
# Bright, mutually distinct box colours that stay visible on photographs.
_BOX_COLOURS = [(0, 255, 0), (255, 60, 60), (0, 170, 255), (255, 140, 0), (255, 0, 255),
                (0, 255, 200), (180, 120, 255), (255, 255, 255)]
_DASH = "–"
_FIGURE_CAPTIONS = {"pr_curves": "Precision–recall", "roc": "Discrete ROC (FDDB-style)",
                    "samples": "Sample detections"}


def _pyplot():
  # matplotlib only for the figures: importing it (and choosing a backend) is left to the
  # first figure, so the rest of the report needs neither.
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  return plt


def _float(value) -> float:
  """``value`` as a float; None or anything non-numeric -> NaN."""
  try:
    return float(value)
  except (TypeError, ValueError):
    return math.nan


def _legend_order(curves: Mapping[str, Mapping]) -> list[str]:
  """Detector names by AP, highest first; NaN or missing AP last; ties keep input order."""
  names = list(curves)

  def key(i: int):
    ap = _float(curves[names[i]].get("ap"))
    return (math.isnan(ap), -ap if not math.isnan(ap) else 0.0, i)

  return [names[i] for i in sorted(range(len(names)), key=key)]


def _label(name: str, curve: Mapping) -> str:
  """Legend entry ``"name (AP 0.875)"``, marked when the detector found nothing."""
  ap = _float(curve.get("ap"))
  text = f"{name} (AP {ap:.3f})" if not math.isnan(ap) else f"{name} (AP {_DASH})"
  counts = curve.get("roc_tp")
  if counts is None:
    counts = curve.get("pr_recall")
  if counts is not None and not len(np.asarray(counts)):
    text += ", no detections"
  return text


def _common(curves: Mapping[str, Mapping], key: str):
  """The value of ``key`` shared by every curve, None when absent or differing."""
  values = {json.dumps(c.get(key), default=str) for c in curves.values()}
  if len(values) != 1:
    return None
  return next(iter(curves.values())).get(key)


def _protocol_words(curves: Mapping[str, Mapping]) -> str:
  """``"IoU ≥ 0.5, min face 20 px"`` from the curves' settings (parts they lack are left out)."""
  parts = []
  iou = _common(curves, "iou_threshold")
  if iou is not None:
    parts.append(f"IoU ≥ {iou:g}")
  min_face = _common(curves, "min_face")
  if min_face:
    parts.append(f"min face {min_face:g} px")
  elif min_face is None and any(c.get("min_face") for c in curves.values()):
    parts.append("min face differs")
  return ", ".join(parts)


def _colours(names: Sequence[str]) -> dict[str, Any]:
  """A fixed matplotlib colour per detector (input order, so it does not move with AP)."""
  plt = _pyplot()
  cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
  return {n: cycle[i % len(cycle)] for i, n in enumerate(names)}


def _curve_figure(curves: Mapping[str, Mapping], path):
  """``(plt, path, colours, fig, ax)`` for a curve plot: its folder made, a colour per detector."""
  plt = _pyplot()
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig, ax = plt.subplots(figsize=(6.4, 5.2))
  return plt, path, _colours(list(curves)), fig, ax


def _save_figure(plt, fig, path: pathlib.Path) -> pathlib.Path:
  """Lays out, writes ``path`` as PNG at :data:`DPI` and closes ``fig``."""
  fig.tight_layout()
  fig.savefig(path, dpi=DPI)
  plt.close(fig)
  return path


def plot_pr_curves(curves: Mapping[str, Mapping], path, *, title: str | None = None
                   ) -> pathlib.Path:
  """Precision (y) against recall (x), one line per detector.

  Uses ``pr_precision_interp`` (the monotone envelope AP integrates, drawn as
  the step function AP is the area under) when present, else ``pr_precision``.
  Legend entries read ``"name (AP 0.875)"``, highest AP first.

  Args:
    curves: name -> ``evaluate_detections`` result.
    path: PNG to write (folders are created).
    title: default states IoU threshold, min face and image count when the
      curves share them.

  Returns:
    ``path`` as a ``pathlib.Path``.
  """
  plt, path, colours, fig, ax = _curve_figure(curves, path)
  for name in _legend_order(curves):
    c = curves[name]
    recall = np.asarray(c.get("pr_recall", []), np.float64).reshape(-1)
    interp = c.get("pr_precision_interp")
    precision = np.asarray(interp if interp is not None else c.get("pr_precision", []),
                           np.float64).reshape(-1)
    n = min(len(recall), len(precision))
    if n and interp is not None:
      # AP = sum (r_i - r_{i-1}) * envelope_i: the envelope holds on (r_{i-1}, r_i].
      ax.plot(np.r_[0.0, recall[:n]], np.r_[precision[0], precision[:n]], drawstyle="steps-pre",
              color=colours[name], lw=1.8, label=_label(name, c))
    elif n:
      ax.plot(recall[:n], precision[:n], color=colours[name], lw=1.8, label=_label(name, c))
    else:
      ax.plot([], [], color=colours[name], lw=1.8, ls=":", label=_label(name, c))
  ax.set_xlim(0, 1)
  ax.set_ylim(0, 1.02)
  ax.set_xlabel("recall")
  ax.set_ylabel("precision" + (" (interpolated envelope)" if any(
      c.get("pr_precision_interp") is not None for c in curves.values()) else ""))
  ax.grid(True, alpha=0.35)
  if title is None:
    words = _protocol_words(curves)
    num_images = _common(curves, "num_images")
    title = "Precision–recall" + (f", {words}" if words else "") + (
        f" ({num_images} images)" if num_images else "")
  ax.set_title(title, fontsize=10)
  if curves:
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
  return _save_figure(plt, fig, path)


def _draw_roc_lines(ax, curves: Mapping[str, Mapping], colours: Mapping[str, Any]):
  """One ROC line per detector, legend order, from the origin.

  Returns:
    ``(max_fp, min_pos_fp, ends)``: the largest false-positive count drawn,
    the smallest positive one (inf if none), and ``(name, fp, tpr)`` where
    each drawn line ends.
  """
  max_fp, min_pos_fp = 0.0, math.inf
  ends = []
  for name in _legend_order(curves):
    c = curves[name]
    fp = np.asarray(c.get("roc_fp", []), np.float64).reshape(-1)
    tp = np.asarray(c.get("roc_tp", []), np.float64).reshape(-1)
    num_gt = _float(c.get("num_gt"))
    n = min(len(fp), len(tp))
    if n and num_gt > 0:
      fp, tpr = np.r_[0.0, fp[:n]], np.r_[0.0, tp[:n] / num_gt]
      max_fp = max(max_fp, float(fp.max()))
      if (fp > 0).any():
        min_pos_fp = min(min_pos_fp, float(fp[fp > 0].min()))
      ax.plot(fp, tpr, color=colours[name], lw=1.8, label=_label(name, c))
      ends.append((name, fp[-1], tpr[-1]))
    else:
      ax.plot([], [], color=colours[name], lw=1.8, ls=":", label=_label(name, c))
  return max_fp, min_pos_fp, ends


def _mark_fp_per_image(ax, num_images: int | None, right: float) -> list[float]:
  """Dashed lines at 0.1, 0.5 and 1 false positives per image (those left of ``right``)."""
  levels = []
  if num_images:
    levels = [lv for lv in (0.1, 0.5, 1.0) if lv * num_images <= right]
    above = ax.get_xaxis_transform()  # x in data, y in axes fractions
    for level in levels:
      ax.axvline(level * num_images, color="0.5", ls="--", lw=0.8, alpha=0.7)
      ax.text(level * num_images, 1.005, f"{level:g}/img", transform=above, fontsize=7,
              color="0.35", ha="center", va="bottom")
  return levels


def plot_roc(curves: Mapping[str, Mapping], path, *, num_images: int | None = None,
             title: str | None = None) -> pathlib.Path:
  """FDDB-style discrete ROC: true positive rate against the number of false positives.

  ``roc_tp / num_gt`` (y) against ``roc_fp`` (x), from the origin, one line per
  detector, legend highest AP first. When the false-positive counts span more
  than two decades the x axis is symlog (linear below 1, so 0 is shown).
  With ``num_images`` (default: the curves' shared ``num_images``) dotted
  lines mark 0.1, 0.5 and 1 false positives per image.

  Returns:
    ``path`` as a ``pathlib.Path``.
  """
  plt, path, colours, fig, ax = _curve_figure(curves, path)
  if num_images is None:
    num_images = _common(curves, "num_images")
  max_fp, min_pos_fp, ends = _draw_roc_lines(ax, curves, colours)
  log_x = max_fp > 0 and math.isfinite(min_pos_fp) and max_fp / min_pos_fp > 100
  if log_x:
    ax.set_xscale("symlog", linthresh=1.0)
  right = max(max_fp * (1.3 if log_x else 1.05), 1.0)
  ax.set_xlim(0, right)
  ax.set_ylim(0, 1.02)
  for name, fp_end, tpr_end in ends:
    # Past its last detection a detector keeps its final recall: dotted, with a dot at the end
    # (a detector without false positives would otherwise hide on the y axis).
    ax.plot([fp_end, right], [tpr_end, tpr_end], color=colours[name], lw=1.2, ls=":")
    ax.plot([fp_end], [tpr_end], "o", color=colours[name], ms=5, clip_on=False)
  levels = _mark_fp_per_image(ax, num_images, right)
  ax.set_xlabel("false positives (total" + (f", {num_images} images" if num_images else "")
                + ("; symlog axis" if log_x else "") + ")"
                + ("; dashed lines: per image" if levels else ""))
  ax.set_ylabel("true positive rate (recall)")
  ax.grid(True, which="major", alpha=0.35)
  if title is None:
    words = _protocol_words(curves)
    title = "Discrete ROC (FDDB-style)" + (f", {words}" if words else "")
  ax.set_title(title, fontsize=10, pad=14 if num_images else 6)
  if curves:
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9)
  return _save_figure(plt, fig, path)


def _field(record: Any, key: str):
  if isinstance(record, Mapping):
    return record.get(key)
  return getattr(record, key, None)


def _downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
  """Shrinks uint8 ``[H, W, 3]`` so its longer side is at most ``max_side``.

  Returns:
    ``(uint8 [h, w, 3], scale)`` with ``scale = h / H`` (1.0: unchanged).
  """
  image = np.asarray(image)
  if image.ndim == 2:
    image = np.repeat(image[..., None], 3, axis=-1)
  if image.shape[-1] == 1:
    image = np.repeat(image, 3, axis=-1)
  image = np.asarray(image[..., :3], np.uint8)
  h, w = image.shape[:2]
  scale = min(1.0, max_side / max(h, w, 1))
  if scale >= 1.0:
    return image, 1.0
  size = (max(1, round(w * scale)), max(1, round(h * scale)))
  small = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
  return small, size[1] / h


def _scaled_faces(record: Any, scale: float, min_score: float | None = None
                  ) -> types.SimpleNamespace:
  """``boxes [N, 4]``, ``scores [N]``, ``landmarks [N, 5, 2] | None`` scaled to the panel."""
  boxes = np.asarray(_field(record, "boxes") if _field(record, "boxes") is not None else [],
                     np.float64).reshape(-1, 4)
  scores = _field(record, "scores")
  scores = (np.ones(len(boxes)) if scores is None
            else np.asarray(scores, np.float64).reshape(-1))
  landmarks = _field(record, "landmarks")
  if landmarks is not None:
    landmarks = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
    if len(landmarks) != len(boxes):
      landmarks = None
  valid = _field(record, "valid")
  keep = np.ones(len(boxes), bool) if valid is None else np.asarray(valid, bool).reshape(-1)
  if min_score is not None:
    keep &= scores >= min_score
  return types.SimpleNamespace(
      boxes=boxes[keep] * scale, scores=scores[keep],
      landmarks=None if landmarks is None else landmarks[keep] * scale)


def _faces(n: int) -> str:
  return f"{n} face" if n == 1 else f"{n} faces"


def _short(text: str, limit: int = 48) -> str:
  return text if len(text) <= limit else "…" + text[-(limit - 1):]


def _grid_columns(samples) -> tuple[list[str], list[str], bool]:
  """``(columns, detector names, has ground truth)`` of the sample grid, first-seen order."""
  names: list[str] = []
  for _, _, dets in samples:
    names.extend(n for n in dets if n != GT_KEY and n not in names)
  has_gt = any(GT_KEY in dets for _, _, dets in samples)
  return ([GT_KEY] if has_gt else []) + names, names, has_gt


def _ground_truth_panel(img: np.ndarray, record: Any, scale: float, width: int
                        ) -> tuple[np.ndarray, str]:
  """Ground-truth boxes in yellow over ignore regions in grey; ``(panel, heading)``."""
  faces = _scaled_faces(record, scale)
  panel = img
  ignore = _field(record, "ignore")
  ignore = np.asarray(ignore if ignore is not None else [], np.float64).reshape(-1, 4)
  if len(ignore):
    panel = draw.draw_detections(panel, types.SimpleNamespace(
        boxes=ignore * scale, scores=np.ones(len(ignore)), landmarks=None),
        colour=IGNORE_COLOUR, width=max(1, width - 1), scores=False)
  panel = draw.draw_detections(panel, faces, colour=GT_COLOUR, width=width, scores=False)
  heading = f"ground truth: {_faces(len(faces.boxes))}" + (
      f" (+{len(ignore)} ignored)" if len(ignore) else "")
  return panel, heading


def _show_panel(ax, panel: np.ndarray, heading: str, row_title: str | None) -> None:
  """One grid cell: the image, its heading, no ticks or frame; the row title on the first."""
  ax.imshow(panel, interpolation="nearest")
  ax.set_title(heading, fontsize=9)
  ax.set_xticks([])
  ax.set_yticks([])
  for spine in ax.spines.values():
    spine.set_visible(False)
  if row_title is not None:
    ax.set_ylabel(_short(row_title), fontsize=8)


def plot_sample_grid(samples: Sequence[tuple[str, np.ndarray, Mapping[str, Any]]], path, *,
                     max_images: int = 4, panel_inches: float = 3.2,
                     min_score: float | None = None, show_scores: bool = False
                     ) -> pathlib.Path:
  """Images (rows) by detectors (columns), each panel with that detector's boxes.

  Args:
    samples: ``(title, image, detections)`` per image; ``image`` uint8
      ``[H, W, 3]``; ``detections`` maps detector name -> a record (mapping or
      object) with ``boxes [N, 4]`` xyxy pixels, ``scores [N]`` and optional
      ``landmarks [N, 5, 2]`` (or None). An entry ``"gt"`` is the ground truth
      (``boxes``, optional ``ignore [M, 4]`` and ``landmarks``; an
      ``ImageAnnotation`` works): it becomes the first column, "ground
      truth", drawn in yellow with ignore regions in grey.
    path: PNG to write.
    max_images: rows drawn (the first ones).
    panel_inches: width of one panel; images are downscaled to its pixel size
      before drawing, so box lines stay crisp.
    min_score: draw only detections scoring at least this (None: all).
    show_scores: print scores by the boxes (small at panel size; off by default).

  Returns:
    ``path`` as a ``pathlib.Path``.
  """
  plt = _pyplot()
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  samples = list(samples)[:max_images]
  if not samples:
    raise ValueError("plot_sample_grid: no samples")
  columns, names, has_gt = _grid_columns(samples)
  colour_of = {n: _BOX_COLOURS[i % len(_BOX_COLOURS)] for i, n in enumerate(names)}
  max_side = int(round(panel_inches * DPI))
  shrunk = [_downscale(image, max_side) for _, image, _ in samples]
  aspects = [img.shape[0] / max(img.shape[1], 1) for img, _ in shrunk]
  ncols = max(len(columns), 1)
  fig, axes = plt.subplots(
      len(samples), ncols, squeeze=False,
      figsize=(ncols * panel_inches + 0.4, sum(panel_inches * a + 0.45 for a in aspects) + 0.5),
      gridspec_kw={"height_ratios": aspects})
  for row, ((title, _, dets), (img, scale)) in enumerate(zip(samples, shrunk)):
    width = max(1, round(max(img.shape[:2]) / 160))
    for col, name in enumerate(columns):
      record = dets.get(name)
      if record is None:
        panel, heading = img, f"{'ground truth' if name == GT_KEY else name}: {_DASH}"
      elif name == GT_KEY:
        panel, heading = _ground_truth_panel(img, record, scale, width)
      else:
        faces = _scaled_faces(record, scale, min_score)
        panel = draw.draw_detections(img, faces, colour=colour_of[name], width=width,
                                     scores=show_scores)
        heading = f"{name}: {_faces(len(faces.boxes))}"
      _show_panel(axes[row, col], panel, heading, str(title) if col == 0 else None)
  what = "ground truth (yellow; ignore regions grey), then " if has_gt else ""
  score_note = f", score ≥ {min_score:g}" if min_score is not None else ""
  fig.suptitle(f"Sample detections: rows = images, columns = {what}detectors{score_note}",
               fontsize=10)
  return _save_figure(plt, fig, path)


# --------------------------------------------------------------------------
# Markdown


def _fmt(value, digits: int = 4) -> str:
  """A number with ``digits`` decimals; None, NaN or non-numbers -> "–"."""
  if isinstance(value, bool) or value is None:
    return _DASH
  x = _float(value)
  return _DASH if not math.isfinite(x) else f"{x:.{digits}f}"


def _fppi(values: Any, level: float):
  """``values[level]`` for float or string keys (``0.1``, ``"0.1"``, ``"1"``, ``"1.0"``)."""
  if not isinstance(values, Mapping):
    return None
  for key, value in values.items():
    if math.isclose(_float(key), level, rel_tol=1e-9, abs_tol=1e-12):
      return value
  return None


def _nme(value):
  """A landmark NME: a number, or an ``evaluate_landmarks`` dict (its ``mean_nme``)."""
  if isinstance(value, Mapping):
    return value.get("mean_nme")
  return value


def _cell(text: str) -> str:
  return str(text).replace("|", "\\|").replace("\n", " ")


def _relative_link(target, folder: pathlib.Path) -> str:
  target = pathlib.Path(target)
  try:
    rel = os.path.relpath(target.resolve(), folder.resolve())
  except ValueError:  # another drive (Windows)
    rel = str(target)
  return pathlib.Path(rel).as_posix().replace(" ", "%20")


def _heading_lines(report: Mapping) -> list[str]:
  """Title, protocol and data lines."""
  lines = ["# Face detection report", ""]
  protocol = report.get("protocol")
  lines += [f"**Protocol:** {protocol if protocol else _DASH}", ""]
  min_face = report.get("min_face")
  face_words = (f"min face {_float(min_face):g} px (shorter ground-truth faces become ignore "
                "regions)" if min_face else "no min face (every ground-truth face is scored)")
  num_images = report.get("num_images")
  data = report.get("data")
  lines += [f"**Data:** {f'`{data}`' if data else _DASH}, "
            f"{num_images if num_images is not None else _DASH} images, {face_words}.", ""]
  return lines


def _results_lines(detectors: Mapping[str, Any]) -> list[str]:
  """The metric table, one row per detector, and what its columns mean."""
  lines = ["## Results", ""]
  header = ["detector", "AP@0.5", "AP@0.4", "recall", "precision", "recall@0.1 FP/img",
            "recall@0.5 FP/img", "recall@1 FP/img", "median ms", "landmark NME"]
  lines.append("| " + " | ".join(header) + " |")
  lines.append("|" + "---|" + "---:|" * (len(header) - 1))
  for name, entry in detectors.items():
    entry = entry or {}
    fppi = entry.get("recall_at_fp_per_image")
    row = [f"`{_cell(name)}`", _fmt(entry.get("ap", entry.get("ap@0.5"))),
           _fmt(entry.get("ap@0.4")), _fmt(entry.get("recall")), _fmt(entry.get("precision")),
           *(_fmt(_fppi(fppi, level)) for level in (0.1, 0.5, 1.0)),
           _fmt(entry.get("median_ms"), 1), _fmt(_nme(entry.get("landmark_nme")))]
    lines.append("| " + " | ".join(row) + " |")
  if not detectors:
    lines.append("| " + " | ".join([_DASH] * len(header)) + " |")
  lines += ["", "AP: all-point interpolated average precision at IoU 0.5 (0.4); recall, precision: "
            "the operating point the report records (run_eval: every detection); recall@k FP/img: highest recall with at most k false positives "
            "per image; landmark NME: mean landmark error over inter-ocular distance.", ""]
  return lines


def _parity_lines(detectors: Mapping[str, Any]) -> list[str]:
  """A table of the parity entries (ours against reference detections); none: no lines."""
  parity_rows = []
  for name, entry in detectors.items():
    for ref, by_iou in ((entry or {}).get("parity") or {}).items():
      for iou, q in (by_iou or {}).items():
        q = q or {}
        parity_rows.append(f"| `{_cell(name)}` | `{_cell(ref)}` | {_cell(iou)} | "
                           f"{_fmt(q.get('ours_matched'))} | {_fmt(q.get('ref_matched'))} | "
                           f"{_fmt(q.get('landmark_median_px'), 2)} |")
  if not parity_rows:
    return []
  return ["## Parity with reference detections", "",
          "| detector | reference | pairing | ours matched | reference matched | "
          "landmark median px |", "|---|---|---|---:|---:|---:|", *parity_rows, ""]


def _figure_lines(figure_paths: Mapping[str, Any], folder: pathlib.Path) -> list[str]:
  """Each figure under a caption, linked relative to ``folder``; none: no lines."""
  if not figure_paths:
    return []
  lines = ["## Figures", ""]
  for key, fig_path in figure_paths.items():
    caption = _FIGURE_CAPTIONS.get(key, str(key).replace("_", " "))
    lines += [f"### {caption}", "", f"![{caption}]({_relative_link(fig_path, folder)})", ""]
  return lines


def _settings_lines(detectors: Mapping[str, Any]) -> list[str]:
  """Each detector's settings as folded JSON; none: no lines."""
  with_settings = [(n, e["settings"]) for n, e in detectors.items() if (e or {}).get("settings")]
  if not with_settings:
    return []
  lines = ["## Settings", ""]
  for name, settings in with_settings:
    text = json.dumps(settings, indent=2, sort_keys=False, default=_json_default)
    lines += ["<details>", f"<summary>{_cell(name)}</summary>", "", "```json", text, "```", "",
              "</details>", ""]
  return lines


def write_markdown(report: Mapping, figure_paths: Mapping[str, Any], path) -> pathlib.Path:
  """One Markdown file: protocol, data, a metric table, figures, settings.

  Args:
    report: ``run_eval.run``'s report (keys ``protocol``, ``data``,
      ``num_images``, ``min_face``, ``detectors``); each detector entry may
      hold ``ap``, ``ap@0.4``, ``recall``, ``precision``,
      ``recall_at_fp_per_image`` (float or string keys), ``median_ms``,
      ``landmark_nme`` (a number or an ``evaluate_landmarks`` dict),
      ``num_det``, ``settings`` and ``parity``. Missing values show as "–".
    figure_paths: figure name (``pr_curves``, ``roc``, ``samples``, ...) ->
      PNG path; linked relative to the Markdown file's folder.
    path: Markdown file to write.

  Returns:
    ``path`` as a ``pathlib.Path``.
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  detectors = report.get("detectors") or {}
  lines = (_heading_lines(report) + _results_lines(detectors) + _parity_lines(detectors)
           + _figure_lines(figure_paths, path.parent) + _settings_lines(detectors))
  write_text_atomic(path, "\n".join(lines).rstrip("\n") + "\n")
  return path


def _json_default(o):
  if isinstance(o, np.ndarray):
    return o.tolist()
  if isinstance(o, (np.floating, np.integer, np.bool_)):
    return o.item()
  return str(o)


def write_all(report: Mapping, curves: Mapping[str, Mapping],
              samples: Sequence[tuple[str, np.ndarray, Mapping[str, Any]]] | None,
              out_dir, more_pr_curves: Mapping[str, tuple[str, Mapping]] | None = None
              ) -> dict[str, pathlib.Path]:
  """Writes ``pr_curves.png``, ``roc.png``, ``samples.png`` (with samples) and ``report.md``.

  ``more_pr_curves``: further precision-recall figures, ``{key: (title, curves)}``,
  written as ``<key>.png`` (e.g. the official WIDER settings' curves).

  Returns:
    ``{"pr_curves", "roc", "samples" (when written), *more_pr_curves, "report"}`` -> path.
  """
  out_dir = pathlib.Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  paths: dict[str, pathlib.Path] = {}
  if curves:
    paths["pr_curves"] = plot_pr_curves(curves, out_dir / "pr_curves.png")
    paths["roc"] = plot_roc(curves, out_dir / "roc.png", num_images=report.get("num_images"))
  if samples:
    paths["samples"] = plot_sample_grid(samples, out_dir / "samples.png")
  for key, (title, more) in (more_pr_curves or {}).items():
    paths[key] = plot_pr_curves(more, out_dir / f"{key}.png", title=title)
  paths["report"] = write_markdown(report, dict(paths), out_dir / "report.md")
  return paths
