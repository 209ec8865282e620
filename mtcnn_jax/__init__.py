"""MTCNN (Zhang et al., IEEE SPL 2016) face detection in pure, functional JAX.

Public API::

  import mtcnn_jax
  faces = mtcnn_jax.detect("group.jpg")          # a path, PIL image, uint8 or float array
  faces.boxes      # [N, 4] float32 [x1, y1, x2, y2), pixels
  faces.scores     # [N]
  faces.landmarks  # [N, 5, 2]: left eye, right eye, nose, left/right mouth corner
  crops = mtcnn_jax.extract_faces("group.jpg", faces, image_size=160, margin=20)
  aligned = mtcnn_jax.align_faces("group.jpg", faces)     # [N, 112, 112, 3]
  dicts = mtcnn_jax.to_ipazc(faces)              # ipazc mtcnn's list of dicts

``detect_batch`` runs many images; ``detect(..., select_largest=True,
keep_all=False)`` keeps the largest face; ``detect_padded`` is the jittable
core (fixed slots and a validity mask) for use inside your own jitted code.
"""
from mtcnn_jax.cascade import (DetectorConfig, Detections, FaceDetections, detect, detect_batch,
                              detect_padded, select_faces)
from mtcnn_jax.faces import align_faces, extract_faces, to_ipazc
from mtcnn_jax.nets import ONet, PNet, RNet
from mtcnn_jax.nms import nms

__all__ = ["detect", "detect_batch", "detect_padded", "DetectorConfig", "Detections",
           "FaceDetections", "select_faces", "extract_faces", "align_faces", "to_ipazc",
           "PNet", "RNet", "ONet", "nms"]
__version__ = "0.1.0"
