"""MTCNN (Zhang et al., IEEE SPL 2016) face detection in pure, functional JAX.

Public API::

  import mtcnn_jax
  faces = mtcnn_jax.detect(rgb_uint8)            # published weights, min face 20
  faces.boxes      # [N, 4] float32 [x1, y1, x2, y2), pixels
  faces.scores     # [N]
  faces.landmarks  # [N, 5, 2]: left eye, right eye, nose, left/right mouth corner

``detect_batch`` runs many images; ``detect_padded`` is the jittable core
(fixed slots and a validity mask) for use inside your own jitted code.
"""
from mtcnn_jax.cascade import (DetectorConfig, Detections, FaceDetections, detect, detect_batch,
                              detect_padded)
from mtcnn_jax.nets import ONet, PNet, RNet
from mtcnn_jax.nms import nms

__all__ = ["detect", "detect_batch", "detect_padded", "DetectorConfig", "Detections",
           "FaceDetections", "PNet", "RNet", "ONet", "nms"]
__version__ = "0.1.0"
