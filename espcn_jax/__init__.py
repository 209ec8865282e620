"""ESPCN (Shi et al., CVPR 2016) in pure, functional JAX.

Public API::

  from espcn_jax import ESPCN, upscale, load_pretrained, psnr, ssim
  params, card = load_pretrained(3)          # shipped x3 Y-channel weights
  big = upscale(params, rgb_uint8)           # [H, W, 3] -> [3H, 3W, 3]
  big = upscale(params, rgba_uint8)          # [H, W, 4] -> [3H, 3W, 4], alpha bicubic
  big = upscale(params, frames)              # [N, H, W, C] -> [N, 3H, 3W, C]

See ``espcn_jax.train.train_and_evaluate`` for training and
``espcn_jax.evaluate.evaluate`` for the literature's evaluation protocol.
"""
from espcn_jax.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from espcn_jax.infer import super_resolve, upscale
from espcn_jax.metrics import cosine_similarity, cosine_similarity_map, psnr, ssim
from espcn_jax.model import ESPCN, pixel_shuffle
from espcn_jax.pretrained import load_pretrained
from espcn_jax.resize import imresize
from espcn_mtcnn_common.image_io import ImageError, read_image, write_image

__all__ = [
    "ESPCN", "pixel_shuffle", "upscale", "super_resolve", "load_pretrained",
    "psnr", "ssim", "cosine_similarity", "cosine_similarity_map",
    "rgb_to_y", "rgb_to_ycbcr", "ycbcr_to_rgb", "imresize",
    "read_image", "write_image", "ImageError",
]
__version__ = "0.1.0"
