"""Which convolution forms a network uses: CPU-tuned ones on CPU, plain XLA elsewhere.

Both packages carry forms chosen from XLA:CPU timings (ESPCN's row-band
forward with ``fast_tanh``; MTCNN's im2col, side-by-side and block
convolutions). Their ``conv_impl`` switch takes one of :data:`CONV_IMPLS`:
``"cpu_tuned"``, ``"xla"`` (plain XLA convolutions), or ``"auto"`` (the
default: the first on a CPU backend, the second on GPU/TPU). GPU and TPU
timings of the two have not been measured yet, so ``"xla"`` off CPU is the
neutral default, not a measured choice.
"""
from __future__ import annotations

import jax

__all__ = ["CONV_IMPLS", "resolve_conv_impl"]

CONV_IMPLS: tuple[str, ...] = ("auto", "cpu_tuned", "xla")


def resolve_conv_impl(conv_impl: str) -> str:
  """``"auto"`` -> ``"cpu_tuned"`` on a CPU default backend, else ``"xla"``.

  ``"cpu_tuned"`` and ``"xla"`` come back as they are. A Python (static)
  choice: call it on the host or at trace time, never on traced values.

  Raises:
    ValueError: ``conv_impl`` is not one of :data:`CONV_IMPLS`.
  """
  if conv_impl not in CONV_IMPLS:
    raise ValueError(f"conv_impl must be one of {CONV_IMPLS}, got {conv_impl!r}")
  if conv_impl == "auto":
    return "cpu_tuned" if jax.default_backend() == "cpu" else "xla"
  return conv_impl
