"""Plumbing shared by ``espcn_jax`` and ``mtcnn_jax``; no model code lives here.

Both packages import these modules; neither package imports the other.

* :mod:`~espcn_mtcnn_common.image_io` — reading and writing images (uint8 at
  the edges) with clear errors and pixel limits.
* :mod:`~espcn_mtcnn_common.atomic_write` — output files written under a
  temporary name and renamed into place (never partial, safe when runs race).
* :mod:`~espcn_mtcnn_common.video_io` — video files in and out (OpenCV's FFmpeg).
* :mod:`~espcn_mtcnn_common.pipeline` — the threaded decode -> compute -> encode
  pipeline of the video CLIs, and its timings.
* :mod:`~espcn_mtcnn_common.compile_cache` — JAX's persistent compilation cache
  for the CLIs (``--compile-cache``).
* :mod:`~espcn_mtcnn_common.tfds_images` — TFDS image datasets built and read
  without TensorFlow.
* :mod:`~espcn_mtcnn_common.metrics_log` — the trainers' ``metrics.jsonl``.
* :mod:`~espcn_mtcnn_common.demo_photo` — the embedded demo photo.
* :mod:`~espcn_mtcnn_common.cli_helpers` — argparse types, progress bars and
  one-line warnings for the CLIs.
"""
__version__ = "0.1.0"
