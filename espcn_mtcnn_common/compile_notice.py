"""One line on stderr when the libraries compile for a new shape.

``mtcnn_jax.detect`` compiles its cascade once per canvas (size bucket) and
``espcn_jax.upscale`` its network once per bucket: seconds on a CPU, during
which nothing else would be printed. :func:`announce` prints one line per new
key (a canvas, a bucket) and stays silent for keys it has announced before in
this process, e.g. (one line)::

  mtcnn_jax: compiling the cascade for a 768x1024 canvas (once per size;
  ESPCN_MTCNN_JAX_QUIET=1 hides this line)

``ESPCN_MTCNN_JAX_QUIET=1`` (or ``true``/``yes``/``on``) in the environment, or
:func:`set_quiet` from code, silences it. The line goes to ``sys.stderr`` as
it is at the time of the call (so pytest's ``capsys`` sees it) and to the
``espcn_mtcnn_jax.compile`` logger at INFO level.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Hashable

__all__ = ["QUIET_ENV_VAR", "announce", "is_quiet", "set_quiet", "seen"]

QUIET_ENV_VAR = "ESPCN_MTCNN_JAX_QUIET"
_TRUE = ("1", "true", "yes", "on")
_LOGGER = logging.getLogger("espcn_mtcnn_jax.compile")

_lock = threading.Lock()
_announced: set[Hashable] = set()
_quiet_override: bool | None = None


def set_quiet(quiet: bool | None) -> None:
  """Silence (True) or allow (False) the compile lines from code; ``None``: follow
  ``ESPCN_MTCNN_JAX_QUIET`` again."""
  global _quiet_override
  _quiet_override = quiet


def is_quiet(environ=None) -> bool:
  """True when the compile lines are silenced (:func:`set_quiet`, else the variable)."""
  if _quiet_override is not None:
    return _quiet_override
  environ = os.environ if environ is None else environ
  return environ.get(QUIET_ENV_VAR, "").strip().lower() in _TRUE


def seen(key: Hashable) -> bool:
  """Whether ``key`` was announced (or would have been, when quiet) in this process."""
  with _lock:
    return key in _announced


def announce(key: Hashable, message: str) -> bool:
  """Print ``message`` as one stderr line the first time ``key`` comes by.

  Args:
    key: what is compiled, hashable (e.g. ``("mtcnn", canvas_shape, config)``).
    message: the text, without a trailing newline.

  Returns:
    True when the key is new (whether or not the line was printed).
  """
  with _lock:
    if key in _announced:
      return False
    _announced.add(key)
  _LOGGER.info(message)
  if not is_quiet():
    print(message, file=sys.stderr, flush=True)
  return True
