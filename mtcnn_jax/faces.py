"""What to do with detected faces: pick, crop, align, and hand over in ipazc's format.

* :func:`select_faces` — facenet-pytorch's ``select_largest`` / ``keep_all``
  (``mtcnn_jax.detect`` takes both as keywords; defined in :mod:`mtcnn_jax.cascade`
  beside ``detect``, which uses it).
* :func:`extract_faces` — square crops with a margin, resized, optionally
  standardised: facenet-pytorch's ``extract_face`` and ``post_process``.
* :func:`align_faces` — crops aligned by the five landmarks onto the
  ArcFace/InsightFace 112-px template (or that template scaled).
* :func:`to_ipazc` — ipazc ``mtcnn``'s list of dicts (``box`` as x, y, w, h;
  ``confidence``; ``keypoints`` by name), for code written against it.

All take :class:`mtcnn_jax.FaceDetections` (continuous 0-based pixel boxes,
see :mod:`mtcnn_jax.boxes`) and return NumPy arrays or plain Python values.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from mtcnn_jax.cascade import FaceDetections, select_faces
from mtcnn_jax.input_checks import ImageInput, as_rgb_uint8, checked_array

__all__ = ["select_faces", "extract_faces", "align_faces", "to_ipazc", "similarity_transform",
           "fixed_image_standardization", "ALIGNMENT_TEMPLATE_112", "LANDMARK_NAMES"]

# ipazc's keypoint names, in the order of FaceDetections.landmarks (image-left first).
LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

# Five-point template for 112x112 aligned faces (the one ArcFace/InsightFace use):
# left eye, right eye, nose, left mouth corner, right mouth corner (image-left first).
ALIGNMENT_TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                                   [41.5493, 92.3655], [70.7299, 92.2041]], np.float64)


def _boxes_of(faces: Any) -> np.ndarray:
  """``faces.boxes`` (a :class:`FaceDetections`) or boxes themselves, as float64 ``[N, 4]``."""
  boxes = getattr(faces, "boxes", faces)
  boxes = np.asarray(boxes, np.float64)
  return checked_array(boxes.reshape(1, 4) if boxes.shape == (4,) else boxes, (4,),
                       "extract_faces", "boxes")


def _crop_bounds(box: np.ndarray, image_size: int, margin: float, width: int,
                 height: int) -> tuple[int, int, int, int]:
  """facenet-pytorch's crop of ``box`` with ``margin``: ``(x1, y1, x2, y2)`` integer pixels.

  The margin is in pixels of the output: ``margin * side / (image_size - margin)``
  image pixels are added per axis, half on each side; the result is clipped to the
  image and truncated to whole pixels (``int``, as facenet-pytorch does). It
  always keeps at least one pixel (facenet-pytorch fails on an empty crop).
  """
  mx = margin * (box[2] - box[0]) / (image_size - margin)
  my = margin * (box[3] - box[1]) / (image_size - margin)
  x1 = int(np.floor(max(box[0] - mx / 2, 0)))
  y1 = int(np.floor(max(box[1] - my / 2, 0)))
  x2 = int(np.floor(min(box[2] + mx / 2, width)))
  y2 = int(np.floor(min(box[3] + my / 2, height)))
  x1, y1 = min(x1, width - 1), min(y1, height - 1)
  return x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)


def fixed_image_standardization(crops: np.ndarray) -> np.ndarray:
  """facenet-pytorch's function of that name: ``(x - 127.5) / 128`` as float32
  (uint8 0..255 -> [-0.996, 0.996]), any shape."""
  return (np.asarray(crops, np.float32) - np.float32(127.5)) / np.float32(128.0)


def extract_faces(image: ImageInput, faces: FaceDetections | np.ndarray, *,
                  image_size: int = 160, margin: float = 0,
                  standardize: bool = False) -> np.ndarray:
  """Square face crops with a margin, as facenet-pytorch's ``extract_face``.

  Each box is widened by ``margin`` pixels *of the output* (``margin * w /
  (image_size - margin)`` image pixels across, half each side; likewise in
  y), clipped to the image, truncated to whole pixels, and resized to
  ``image_size`` square with OpenCV's area interpolation (what facenet-pytorch
  uses for NumPy input; it uses PIL's bilinear for PIL input). Boxes that are
  not square are stretched, not padded, as there.

  Differences from facenet-pytorch: crops are channels-last NumPy
  ``[N, S, S, 3]`` (facenet-pytorch: a torch ``[3, S, S]`` per face; use
  ``crops.transpose(0, 3, 1, 2)``), uint8 unless standardised (its
  ``post_process=True`` default standardises); and our boxes are continuous
  0-based, so the same detection starts 1 px left of and above facenet-pytorch's
  crop (its ``x1, y1`` are MATLAB's 1-based numbers used as 0-based indices).

  Args:
    image: the image the faces were found in, any form :func:`mtcnn_jax.detect`
      takes (path, PIL image, uint8 or float array).
    faces: :class:`~mtcnn_jax.FaceDetections`, or boxes ``[N, 4]`` (or one
      ``[4]``) as continuous ``[x1, y1, x2, y2)`` pixels.
    image_size: side of the output crops, pixels.
    margin: output pixels of context around the box (per axis, half on each
      side), ``0 <= margin < image_size``.
    standardize: return ``(x - 127.5) / 128`` float32
      (:func:`fixed_image_standardization`, what facenet-pytorch's
      InceptionResnetV1 expects).

  Returns:
    uint8 ``[N, image_size, image_size, 3]``, or float32 when standardised;
    ``N = 0`` gives an empty array of that shape.
  """
  if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) \
      or image_size < 1:
    raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
  if not (np.isfinite(margin) and 0 <= margin < image_size):
    raise ValueError(f"margin must be in [0, image_size = {image_size}), got {margin!r}")
  pixels = as_rgb_uint8(image, "extract_faces image")
  boxes = _boxes_of(faces)
  height, width = pixels.shape[:2]
  out = np.zeros((len(boxes), image_size, image_size, 3), np.uint8)
  for k, box in enumerate(boxes):
    x1, y1, x2, y2 = _crop_bounds(box, int(image_size), float(margin), width, height)
    out[k] = cv2.resize(pixels[y1:y2, x1:x2], (int(image_size), int(image_size)),
                        interpolation=cv2.INTER_AREA)
  return fixed_image_standardization(out) if standardize else out


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
  """Least-squares similarity (rotation, uniform scale, translation) mapping
  ``src [N, 2]`` onto ``dst [N, 2]`` (Umeyama 1991). Returns a ``[2, 3]`` matrix."""
  src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
  mu_s, mu_d = src.mean(0), dst.mean(0)
  s, d = src - mu_s, dst - mu_d
  cov = d.T @ s / len(src)
  u, sig, vt = np.linalg.svd(cov)
  sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
  rot = u @ sign @ vt
  scale = np.trace(np.diag(sig) @ sign) / s.var(0).sum()
  return np.hstack([scale * rot, (mu_d - scale * rot @ mu_s)[:, None]])


def align_faces(image: ImageInput, landmarks: FaceDetections | np.ndarray,
                size: int = 112) -> np.ndarray:
  """Crop faces aligned by their 5 landmarks onto the standard template.

  Args:
    image: the image, any form :func:`mtcnn_jax.detect` takes (uint8
      ``[H, W, 3]``, grey, float, a path, a PIL image).
    landmarks: ``[N, 5, 2]`` (from :func:`mtcnn_jax.detect`), or the
      :class:`~mtcnn_jax.FaceDetections` themselves.
    size: output side; the 112-px template is scaled to it (e.g. 160).

  Returns:
    uint8 ``[N, size, size, 3]`` (bilinear warp, black outside the image).
  """
  landmarks = getattr(landmarks, "landmarks", landmarks)
  landmarks = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
  pixels = as_rgb_uint8(image, "align_faces image")
  template = ALIGNMENT_TEMPLATE_112 * (size / 112.0)
  out = np.zeros((len(landmarks), size, size, 3), np.uint8)
  for k, pts in enumerate(landmarks):
    matrix = similarity_transform(pts, template)
    out[k] = cv2.warpAffine(pixels, matrix, (size, size),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
  return out


def to_ipazc(faces: FaceDetections,
             image_shape: tuple[int, ...] | None = None) -> list[dict[str, Any]]:
  """The faces as ipazc ``mtcnn``'s ``detect_faces`` returns them (its default JSON output).

  ``[{"box": [x, y, w, h], "confidence": p, "keypoints": {"left_eye": (x, y),
  "right_eye": ..., "nose": ..., "mouth_left": ..., "mouth_right": ...}}, ...]``,
  best score first. As ipazc 1.0 does, ``box`` is ``[x1, y1, x2 - x1, y2 - y1]``
  rounded to ints (``np.round``, after clipping) and each keypoint coordinate
  is rounded to an int; keypoints are not clipped (its default).

  Differences: ``x1, y1`` are always clipped at 0 (ipazc never reports
  negatives); ``x2, y2`` are clipped only when ``image_shape`` is given, and
  then to the image's width and height (ipazc's ``fit_to_image`` clips to
  ``W - 1, H - 1``). Our boxes are continuous 0-based, so they are on average
  about 1 px wider and taller than ipazc's for the same face
  (``docs/mtcnn.md``, conventions). Values are plain Python ``int`` / ``float``
  and keypoints tuples (ipazc 1.0: NumPy scalars, keypoints as lists; 0.1:
  tuples), so ``json.dumps`` takes the result as it is.

  Args:
    faces: one image's :class:`~mtcnn_jax.FaceDetections`.
    image_shape: ``(H, W)`` or ``(H, W, C)`` of that image, to clip boxes to it.

  Returns:
    One dict per face.
  """
  boxes = np.asarray(faces.boxes, np.float64).reshape(-1, 4)
  boxes = np.maximum(boxes, 0.0)
  if image_shape is not None:
    height, width = image_shape[:2]
    boxes = np.minimum(boxes, [width, height, width, height])
  xywh = np.round(np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)).astype(int)
  points = np.round(np.asarray(faces.landmarks, np.float64).reshape(-1, 5, 2)).astype(int)
  return [{"box": [int(v) for v in xywh[k]],
           "confidence": float(faces.scores[k]),
           "keypoints": {name: (int(points[k, j, 0]), int(points[k, j, 1]))
                         for j, name in enumerate(LANDMARK_NAMES)}}
          for k in range(len(xywh))]
