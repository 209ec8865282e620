"""Tests for mtcnn_jax.nets: building blocks, shapes, and parity with facenet-pytorch."""
from __future__ import annotations

import functools
import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from espcn_mtcnn_common.conv_impl import resolve_conv_impl
from mtcnn_jax import nets
from mtcnn_jax.params import load_params

GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "data" / "mtcnn_golden.npz"


@pytest.fixture(scope="module")
def params():
  return load_params()


@pytest.fixture(scope="module")
def golden():
  with np.load(GOLDEN) as f:
    return {k: f[k] for k in f.files}


# ---------------------------------------------------------------- ChannelPReLU

def test_channel_prelu_is_per_channel(rng):
  x = rng.normal(size=(2, 4, 5, 3)).astype(np.float32)
  alpha = np.array([0.1, 0.5, -2.0], np.float32)
  y = nets.ChannelPReLU().apply({"params": {"alpha": alpha}}, x)
  want = np.where(x >= 0, x, x * alpha)
  np.testing.assert_allclose(np.asarray(y), want, rtol=0, atol=0)


def test_channel_prelu_init_is_caffe_default():
  variables = nets.ChannelPReLU().init(jax.random.key(0), jnp.zeros((1, 7)))
  np.testing.assert_array_equal(variables["params"]["alpha"], np.full(7, 0.25, np.float32))


# ---------------------------------------------------------------- max_pool_ceil

def _pool_ref(x: np.ndarray, k: int, s: int) -> np.ndarray:
  """NumPy loop: Caffe ceil-mode output size; windows clipped at the border."""
  b, h, w, c = x.shape
  oh, ow = math.ceil((h - k) / s) + 1, math.ceil((w - k) / s) + 1
  out = np.empty((b, oh, ow, c), x.dtype)
  for i in range(oh):
    for j in range(ow):
      out[:, i, j] = x[:, i * s:min(i * s + k, h), j * s:min(j * s + k, w)].max(axis=(1, 2))
  return out


@pytest.mark.parametrize("h, w, k, s, oh, ow", [
    (5, 5, 2, 2, 3, 3),
    (11, 11, 3, 2, 5, 5),
    (22, 22, 3, 2, 11, 11),   # R-Net pool1
    (9, 9, 3, 2, 4, 4),       # R-Net pool2
    (35, 51, 2, 2, 18, 26),   # P-Net pool on 37x53
    (8, 7, 2, 2, 4, 4),
])
def test_max_pool_ceil_matches_loop(rng, h, w, k, s, oh, ow):
  # All inputs negative: a zero- (rather than -inf-) padded border would win.
  x = -rng.uniform(1, 2, size=(2, h, w, 3)).astype(np.float32)
  y = jax.jit(nets.max_pool_ceil, static_argnums=(1, 2))(x, k, s)
  assert y.shape == (2, oh, ow, 3)
  assert nets.pool_out_size(h, k, s) == oh and nets.pool_out_size(w, k, s) == ow
  np.testing.assert_array_equal(np.asarray(y), _pool_ref(x, k, s))
  assert np.all(np.isfinite(np.asarray(y)))


def test_pool_out_size_refuses_too_small_input():
  with pytest.raises(ValueError, match="does not fit"):
    nets.pool_out_size(1, 3, 2)


# ---------------------------------------------------------------- flatten order

def test_flatten_whc_order(rng):
  x = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
  y = np.asarray(nets.flatten_whc(x))
  b, h, w, c = x.shape
  for hh in range(h):
    for ww in range(w):
      for cc in range(c):
        assert y[1, (ww * h + hh) * c + cc] == x[1, hh, ww, cc]


def test_flatten_order_matters_for_rnet(params, golden, monkeypatch):
  """With an NHWC flatten the shipped R-Net gives other outputs: W-before-H is exercised."""
  x = golden["rnet_input"]
  monkeypatch.setattr(nets, "flatten_whc", lambda t: t.reshape(t.shape[0], -1))
  prob, box = nets.RNet().apply({"params": params["rnet"]}, x)  # no jit: no stale trace
  assert np.abs(np.asarray(box) - golden["rnet_box"]).max() > 1e-2
  assert np.abs(np.asarray(prob) - golden["rnet_prob"]).max() > 1e-2


# ------------------------------------------------- PatchConv, SideBySideConv, BlockConv

def _conv_valid(x, kernel, bias):
  """Plain NumPy 'VALID' k x k convolution (float64): ``[B, H, W, Cin] -> [B, H-k+1, W-k+1, C]``."""
  k = kernel.shape[0]
  b, h, w, _ = x.shape
  out = np.zeros((b, h - k + 1, w - k + 1, kernel.shape[-1]))
  for i in range(k):
    for j in range(k):
      out += np.einsum("bhwc,cd->bhwd", x[:, i:i + h - k + 1, j:j + w - k + 1].astype(np.float64),
                       kernel[i, j].astype(np.float64))
  return out + bias


@pytest.mark.parametrize("module", [nets.PatchConv, nets.SideBySideConv])
@pytest.mark.parametrize("batch, h, w, cin, features, k", [
    (32, 24, 24, 3, 28, 3),    # R-Net conv1 (28 columns padded to 32, sliced off, in PatchConv)
    (5, 11, 11, 28, 48, 3),    # R-Net conv2
    (3, 4, 4, 48, 64, 2),      # R-Net conv3
    (1, 9, 13, 5, 7, 3),       # one image, not square
    (4, 6, 5, 2, 16, 2),
])
def test_conv_forms_match_a_plain_convolution(rng, module, batch, h, w, cin, features, k):
  x = rng.uniform(-1, 1, size=(batch, h, w, cin)).astype(np.float32)
  kernel = rng.normal(size=(k, k, cin, features)).astype(np.float32) / np.sqrt(k * k * cin)
  bias = rng.normal(size=features).astype(np.float32)
  y = jax.jit(module(features, k).apply)({"params": {"kernel": kernel, "bias": bias}}, x)
  assert y.shape == (batch, h - k + 1, w - k + 1, features)
  np.testing.assert_allclose(np.asarray(y), _conv_valid(x, kernel, bias), rtol=0, atol=2e-5)


@pytest.mark.parametrize("make, features, shape", [
    (lambda: nets.PatchConv(48, 3), 48, (3, 11, 11, 28)),
    (lambda: nets.SideBySideConv(48, 3), 48, (3, 11, 11, 28)),
    (lambda: nets.BlockConv(10), 10, (1, 12, 12, 3)),
])
def test_conv_forms_have_nn_conv_params(make, features, shape):
  """Same names, shapes and initial values as nn.Conv: checkpoints and training
  from scratch do not change."""
  x = jnp.zeros(shape)
  ours = make().init(jax.random.key(3), x)["params"]
  plain = nets._conv(features, 3, "c").init(jax.random.key(3), x)["params"]
  assert jax.tree.map(jnp.shape, ours) == jax.tree.map(jnp.shape, plain)
  for name in ("kernel", "bias"):
    np.testing.assert_array_equal(np.asarray(ours[name]), np.asarray(plain[name]))


@pytest.mark.parametrize("module", [nets.PatchConv, nets.SideBySideConv])
def test_conv_forms_have_nn_conv_gradients(rng, module):
  """The same gradients as nn.Conv (R-Net trains through them)."""
  x = jnp.asarray(rng.uniform(-1, 1, size=(3, 11, 11, 28)).astype(np.float32))
  plain = nets._conv(48, 3, "c").init(jax.random.key(3), x)["params"]

  def loss(apply, p, x):
    return jnp.sum(jnp.tanh(apply({"params": p}, x)) ** 2)
  g_ours = jax.grad(loss, argnums=(1, 2))(module(48, 3).apply, plain, x)
  g_plain = jax.grad(loss, argnums=(1, 2))(nets._conv(48, 3, "c").apply, plain, x)
  for a, b in zip(jax.tree.leaves(g_ours), jax.tree.leaves(g_plain)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("h, w", [(12, 12), (13, 17), (20, 15)])
def test_block_conv_is_the_convolution_in_2x2_blocks(rng, h, w):
  x = rng.uniform(-1, 1, size=(2, h, w, 3)).astype(np.float32)
  variables = nets.BlockConv(10).init(jax.random.key(0), jnp.asarray(x))
  kernel, bias = (np.asarray(variables["params"][k]) for k in ("kernel", "bias"))
  bias = rng.normal(size=bias.shape).astype(np.float32)
  y = np.asarray(nets.BlockConv(10).apply({"params": {"kernel": kernel, "bias": bias}}, x))
  want = _conv_valid(x, kernel, bias)
  assert y.shape == (2, -(-(h - 2) // 2), -(-(w - 2) // 2), 2, 2, 10)
  blocks = y.transpose(0, 1, 3, 2, 4, 5).reshape(2, y.shape[1] * 2, y.shape[2] * 2, 10)
  np.testing.assert_allclose(blocks[:, :h - 2, :w - 2], want, rtol=0, atol=2e-6)


@pytest.mark.parametrize("valid", [None, (17, 23), (16, 20)])
def test_pnet_pools_like_a_plain_convolution_and_ceil_pooling(params, rng, valid):
  """P-Net's conv1 in blocks + masked maximum = plain conv1, -inf past the image, max_pool_ceil."""
  x = rng.uniform(-1, 1, size=(1, 19, 25, 3)).astype(np.float32)
  p = params["pnet"]
  conv = _conv_valid(x, np.asarray(p["conv1"]["kernel"]), np.asarray(p["conv1"]["bias"]))
  conv = np.where(conv >= 0, conv, np.asarray(p["prelu1"]["alpha"]) * conv)
  if valid is not None:
    conv[:, valid[0] - 2:] = -np.inf
    conv[:, :, valid[1] - 2:] = -np.inf
  pooled = np.asarray(nets.max_pool_ceil(jnp.asarray(conv, jnp.float32), 2, 2))
  rest = {k: v for k, v in p.items() if k not in ("conv1", "prelu1")}

  def tail(y):   # P-Net after the pooling, as PNet writes it
    y = nets.ChannelPReLU().apply({"params": rest["prelu2"]}, nets._conv(16, 3, "c").apply(
        {"params": rest["conv2"]}, y))
    y = nets.ChannelPReLU().apply({"params": rest["prelu3"]}, nets._conv(32, 3, "c").apply(
        {"params": rest["conv3"]}, y))
    return (nets._face_prob(nets._conv(2, 1, "c").apply({"params": rest["face"]}, y)),
            nets._conv(4, 1, "c").apply({"params": rest["box"]}, y))

  want = tail(jnp.asarray(pooled))
  got = nets.PNet().apply({"params": p}, x, valid_size=valid)
  for g, wnt in zip(got, want):
    np.testing.assert_allclose(np.asarray(g), np.asarray(wnt), rtol=0, atol=1e-5)


# ---------------------------------------------------------------- shapes

@pytest.mark.parametrize("h, w, oh, ow", [(12, 12, 1, 1), (37, 53, 14, 22), (24, 13, 7, 2)])
def test_pnet_shapes(params, rng, h, w, oh, ow):
  x = rng.uniform(-1, 1, size=(2, h, w, 3)).astype(np.float32)
  prob, box = jax.jit(nets.PNet().apply)({"params": params["pnet"]}, x)
  assert prob.shape == (2, oh, ow) and box.shape == (2, oh, ow, 4)
  assert prob.dtype == jnp.float32
  assert np.all((np.asarray(prob) >= 0) & (np.asarray(prob) <= 1))


def test_pnet_is_fully_convolutional(params, golden):
  """Cell (i, j) of the map equals P-Net on the 12x12 crop at (2i, 2j)."""
  x = golden["pnet_input"]
  apply = jax.jit(nets.PNet().apply)
  prob, box = apply({"params": params["pnet"]}, x)
  crops = np.stack([x[0, 2 * i:2 * i + 12, 2 * j:2 * j + 12]
                    for i in (0, 5, 12) for j in (0, 7, 20)])
  cprob, cbox = apply({"params": params["pnet"]}, crops)
  want_prob = np.stack([prob[0, i, j] for i in (0, 5, 12) for j in (0, 7, 20)])
  want_box = np.stack([box[0, i, j] for i in (0, 5, 12) for j in (0, 7, 20)])
  np.testing.assert_allclose(np.asarray(cprob)[:, 0, 0], want_prob, atol=1e-5)
  np.testing.assert_allclose(np.asarray(cbox)[:, 0, 0], want_box, atol=1e-5)


def test_rnet_onet_shapes(params, rng):
  x24 = rng.uniform(-1, 1, size=(3, 24, 24, 3)).astype(np.float32)
  x48 = rng.uniform(-1, 1, size=(3, 48, 48, 3)).astype(np.float32)
  prob, box = jax.jit(nets.RNet().apply)({"params": params["rnet"]}, x24)
  assert prob.shape == (3,) and box.shape == (3, 4)
  assert np.all((np.asarray(prob) >= 0) & (np.asarray(prob) <= 1))
  prob, box, lm = jax.jit(nets.ONet().apply)({"params": params["onet"]}, x48)
  assert prob.shape == (3,) and box.shape == (3, 4) and lm.shape == (3, 10)
  assert np.all((np.asarray(prob) >= 0) & (np.asarray(prob) <= 1))


def test_init_param_names():
  variables = jax.eval_shape(nets.ONet().init, jax.random.key(0), jnp.zeros((1, 48, 48, 3)))
  assert sorted(variables["params"]) == sorted(
      [f"conv{i}" for i in range(1, 5)] + [f"prelu{i}" for i in range(1, 6)] +
      ["fc5", "box", "landmarks", "face"])


# ---------------------------------------------------------------- golden parity

def test_pnet_matches_facenet(params, golden):
  prob, box = jax.jit(nets.PNet().apply)({"params": params["pnet"]}, golden["pnet_input"])
  np.testing.assert_allclose(np.asarray(prob), golden["pnet_prob"], rtol=0, atol=1e-5)
  np.testing.assert_allclose(np.asarray(box), golden["pnet_box"], rtol=0, atol=1e-5)


def test_rnet_matches_facenet(params, golden):
  prob, box = jax.jit(nets.RNet().apply)({"params": params["rnet"]}, golden["rnet_input"])
  np.testing.assert_allclose(np.asarray(prob), golden["rnet_prob"], rtol=0, atol=1e-5)
  np.testing.assert_allclose(np.asarray(box), golden["rnet_box"], rtol=0, atol=1e-5)


def test_onet_matches_facenet(params, golden):
  prob, box, lm = jax.jit(nets.ONet().apply)({"params": params["onet"]}, golden["onet_input"])
  np.testing.assert_allclose(np.asarray(prob), golden["onet_prob"], rtol=0, atol=1e-5)
  np.testing.assert_allclose(np.asarray(box), golden["onet_box"], rtol=0, atol=1e-5)
  np.testing.assert_allclose(np.asarray(lm), golden["onet_landmarks"], rtol=0, atol=1e-5)
  # The fixture spans the face-probability range, so the softmax index is exercised.
  assert golden["onet_prob"].min() < 0.05 and golden["onet_prob"].max() > 0.85


# ---------------------------------------------------------------- conv_impl

_NET_INPUTS = {"pnet": (2, 29, 34), "rnet": (5, 24, 24), "onet": (3, 48, 48)}


def _apply(name, conv_impl, p, x, **kwargs):
  return nets.NETS[name](conv_impl=conv_impl).apply({"params": p}, x, **kwargs)


@pytest.mark.parametrize("name, kwargs", [
    ("pnet", {}), ("pnet", {"valid_size": (25, 31)}), ("rnet", {}), ("onet", {})])
def test_conv_impls_compute_the_same_nets(params, rng, name, kwargs):
  """The CPU-tuned forms and plain XLA convolutions: same outputs and gradients
  (P-Net with a valid size too: cells inside it are compared)."""
  x = jnp.asarray(rng.uniform(-1, 1, size=(*_NET_INPUTS[name], 3)).astype(np.float32))
  p = params[name]
  tuned = jax.jit(functools.partial(_apply, name, "cpu_tuned", **kwargs))(p, x)
  plain = jax.jit(functools.partial(_apply, name, "xla", **kwargs))(p, x)
  for a, b in zip(tuned, plain):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-5)

  def loss(conv_impl, p):
    outs = _apply(name, conv_impl, p, x, **kwargs)
    if kwargs:                     # cells past valid_size - 12 are the caller's to mask
      outs = [o[:, :7, :10] for o in outs]
    return sum(jnp.sum(jnp.sin(3.0 * o)) for o in outs)
  g_tuned = jax.jit(jax.grad(functools.partial(loss, "cpu_tuned")))(p)
  g_plain = jax.jit(jax.grad(functools.partial(loss, "xla")))(p)
  assert jax.tree.structure(g_tuned) == jax.tree.structure(g_plain)
  for a, b in zip(jax.tree.leaves(g_tuned), jax.tree.leaves(g_plain)):
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-4 * max(1.0, np.abs(b).max()))


@pytest.mark.parametrize("name", ["pnet", "rnet", "onet"])
def test_conv_impls_have_the_same_param_tree(name):
  """Same names, shapes and initial values: checkpoints work with either form."""
  x = jnp.zeros((1, *_NET_INPUTS[name][1:], 3))
  inits = [nets.NETS[name](conv_impl=c).init(jax.random.key(4), x)["params"]
           for c in ("cpu_tuned", "xla")]
  assert jax.tree.structure(inits[0]) == jax.tree.structure(inits[1])
  assert jax.tree.map(jnp.shape, inits[0]) == jax.tree.map(jnp.shape, inits[1])
  for a, b in zip(*map(jax.tree.leaves, inits)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_auto_is_the_cpu_tuned_form_on_cpu(params, rng):
  assert jax.default_backend() == "cpu"
  assert resolve_conv_impl("auto") == "cpu_tuned"
  assert [resolve_conv_impl(c) for c in ("cpu_tuned", "xla")] == ["cpu_tuned", "xla"]
  x = rng.uniform(-1, 1, size=(3, 24, 24, 3)).astype(np.float32)
  auto = jax.jit(functools.partial(_apply, "rnet", "auto"))(params["rnet"], x)
  tuned = jax.jit(functools.partial(_apply, "rnet", "cpu_tuned"))(params["rnet"], x)
  for a, b in zip(auto, tuned):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("name", ["pnet", "rnet", "onet"])
def test_unknown_conv_impl_is_refused(name):
  x = jnp.zeros((1, *_NET_INPUTS[name][1:], 3))
  with pytest.raises(ValueError, match=r"conv_impl must be one of .*'gpu'"):
    jax.eval_shape(nets.NETS[name](conv_impl="gpu").init, jax.random.key(0), x)
