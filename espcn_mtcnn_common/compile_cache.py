"""A persistent XLA compilation cache for the command-line tools.

Compiling is the slow part of a short run here: MTCNN's cascade takes 7-10 s per
canvas (size bucket) on a 2-core CPU, and a WIDER evaluation meets 13 canvases.
JAX can write compiled executables to a folder and load them in later processes
(``jax_compilation_cache_dir``); the CLIs (``espcn-upscale``, ``espcn-video``,
``mtcnn-detect``, ``mtcnn-video``, ``evaluate.py``, ``train.py``) turn it on
in a per-machine folder unless told not to:

* ``--compile-cache DIR`` or ``--compile-cache off`` on the command line;
* else (``auto``, the default) ``ESPCN_MTCNN_JAX_COMPILE_CACHE`` (a folder, or ``off``);
* else JAX's own ``JAX_COMPILATION_CACHE_DIR`` if it is set;
* else ``$XDG_CACHE_HOME/espcn-mtcnn-jax/xla-<machine>`` (``~/.cache`` by default).

JAX's cache key covers the program, jaxlib's version, the XLA flags and the
backend, but not the cache folder's path (:func:`enable` turns off JAX's extra
XLA caches, whose paths inside the folder would otherwise enter every key, so
a copied or moved folder still hits), and not which CPU compiled it, and
XLA:CPU code is built for the host's instruction set; ``<machine>``
(:func:`machine_tag`) keeps machines that share a home folder apart. JAX
stores only programs that took at least
``jax_persistent_cache_min_compile_time_secs`` to compile; :func:`enable`
lowers JAX's 1 s to ``MIN_COMPILE_SECS`` (0.2 s) unless
``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS`` is set, so that ESPCN's
per-bucket functions (0.3-1 s each) are kept too, not only the cascades and
training steps. Entries are about 1 MB per MTCNN
canvas; deleting the folder is always safe. The folder is created private
(mode 700): JAX runs what it loads from there, so it must not be writable by
others.

The libraries turn the same cache on by themselves: the first
``mtcnn_jax.detect`` / ``detect_batch`` or ``espcn_jax.upscale`` /
``super_resolve`` call runs :func:`enable_default`, which leaves a choice
already made alone (a CLI's ``--compile-cache``, the user's own
``jax_compilation_cache_dir``) and otherwise enables the folder above;
``ESPCN_MTCNN_JAX_COMPILE_CACHE=off`` keeps it off. With the cache on, MTCNN
also keeps each canvas's cascade as a serialised ``jax.export`` program in
``<folder>/programs`` (:func:`load_or_export`), so a later process skips
tracing and lowering (seconds per canvas) as well as compiling.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import pathlib
import platform
import threading
import warnings
from typing import Any, Callable

__all__ = ["ENV_VAR", "machine_tag", "default_cache_dir", "add_argument", "enable",
           "enable_default", "program_store", "source_digest", "load_or_export"]

ENV_VAR = "ESPCN_MTCNN_JAX_COMPILE_CACHE"
_OFF = ("off", "none", "0", "false", "no")
# JAX's own variable for its extra XLA caches; when the user sets it, it wins.
_XLA_CACHES_VAR = "JAX_PERSISTENT_CACHE_ENABLE_XLA_CACHES"
# Set once enable() has run (a CLI's explicit choice) or enable_default() has decided.
_decided = False
_decide_lock = threading.Lock()
PROGRAMS_SUBDIR = "programs"
# Programs that compile faster than this are not stored (JAX's default: 1 s, which
# left every ESPCN bucket out). benchmarks/cold_start_bench.py times both.
MIN_COMPILE_SECS = 0.2
_MIN_COMPILE_VAR = "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"


def _keys_independent_of_the_folder(jax) -> None:
  """Keep the folder's path out of JAX's cache keys.

  With the persistent cache on, JAX also points XLA's GPU autotune cache at
  ``<folder>/xla_gpu_per_fusion_autotune_cache_dir`` (``jax_persistent_cache_enable_xla_caches``);
  that path is a compile option and is hashed into every key, so a copied or
  moved folder missed every entry. The compiled executables (autotuning
  included) are what this cache keeps, so the extra caches are turned off,
  unless ``JAX_PERSISTENT_CACHE_ENABLE_XLA_CACHES`` asks for them.
  """
  if _XLA_CACHES_VAR not in os.environ:
    jax.config.update("jax_persistent_cache_enable_xla_caches", "none")


def _cpu_description(cpuinfo_path: str = "/proc/cpuinfo") -> str:
  """The first CPU's model name and feature flags (Linux), else what ``platform`` knows."""
  try:
    with open(cpuinfo_path, encoding="utf-8", errors="replace") as f:
      lines = {}
      for line in f:
        if not line.strip():
          break                       # the first processor's block is enough
        key, _, value = line.partition(":")
        lines[key.strip()] = value.strip()
    found = [lines.get(k, "") for k in ("model name", "flags", "Features", "CPU part")]
    if any(found):
      return "\n".join(found)
  except OSError:
    pass
  return f"{platform.machine()}\n{platform.processor()}"


def machine_tag(cpu_description: str | None = None) -> str:
  """12 hex digits naming this machine's CPU (model and instruction-set flags).

  Args:
    cpu_description: text to hash; default: the first CPU's "model name" and
      "flags" lines from ``/proc/cpuinfo`` (or ``platform``'s machine and
      processor elsewhere).
  """
  text = _cpu_description() if cpu_description is None else cpu_description
  return hashlib.sha256(f"{platform.machine()}\n{text}".encode()).hexdigest()[:12]


def default_cache_dir(environ=None) -> pathlib.Path | None:
  """Where the CLIs cache compiled programs when ``--compile-cache`` is not given.

  Returns ``None`` when ``ESPCN_MTCNN_JAX_COMPILE_CACHE`` is ``off``; that
  variable's folder when it names one; else the per-machine folder under
  ``$XDG_CACHE_HOME`` (or ``~/.cache``). ``JAX_COMPILATION_CACHE_DIR`` is handled
  by :func:`enable`, since JAX reads it itself.
  """
  environ = os.environ if environ is None else environ
  value = environ.get(ENV_VAR, "").strip()
  if value.lower() in _OFF:
    return None
  if value:
    return pathlib.Path(value).expanduser()
  base = environ.get("XDG_CACHE_HOME") or pathlib.Path("~/.cache").expanduser()
  return pathlib.Path(base) / "espcn-mtcnn-jax" / f"xla-{machine_tag()}"


def add_argument(parser: argparse.ArgumentParser) -> None:
  """Add ``--compile-cache DIR|off|auto`` to a CLI's parser (``auto``: see the module doc)."""
  parser.add_argument(
      "--compile-cache", metavar="DIR|off|auto", default="auto",
      help=f"keep compiled XLA programs in DIR so the next run skips compiling; 'off' to "
           f"disable; 'auto': ${ENV_VAR}, else $JAX_COMPILATION_CACHE_DIR, else "
           f"~/.cache/espcn-mtcnn-jax/xla-<machine>")


def enable(choice: str | os.PathLike | None = None) -> pathlib.Path | None:
  """Turn JAX's persistent compilation cache on (or off) for this process.

  Call it before the first jitted call (a CLI's ``main`` does so right after
  parsing its arguments); an earlier in-process cache state is reset so the
  choice takes effect.

  Args:
    choice: the ``--compile-cache`` value: a folder; ``"off"``, which also
      overrides ``JAX_COMPILATION_CACHE_DIR``; or ``"auto"`` / ``None`` for the
      default (``ESPCN_MTCNN_JAX_COMPILE_CACHE``, then an already-set
      ``JAX_COMPILATION_CACHE_DIR``, then :func:`default_cache_dir`).

  Cache keys do not depend on the folder's path (see
  :func:`_keys_independent_of_the_folder`): a copied or moved folder still hits.

  Returns:
    The folder in use, or ``None`` when the cache is off. A folder that cannot
    be created only warns: the cache is a speed-up, never a reason to fail.
  """
  import jax  # pylint: disable=import-outside-toplevel
  from jax.experimental.compilation_cache import (  # pylint: disable=import-outside-toplevel
      compilation_cache)

  global _decided
  _decided = True
  _keys_independent_of_the_folder(jax)
  if _MIN_COMPILE_VAR not in os.environ:
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECS)
  value = "auto" if choice is None else str(choice).strip()
  if value.lower() == "auto":
    if not os.environ.get(ENV_VAR, "").strip() and jax.config.jax_compilation_cache_dir:
      return pathlib.Path(jax.config.jax_compilation_cache_dir)   # the user's JAX setting
    folder = default_cache_dir()
  else:
    folder = None if value.lower() in _OFF else pathlib.Path(value).expanduser()
  if folder is not None:
    try:
      folder.mkdir(mode=0o700, parents=True, exist_ok=True)
      if not os.access(folder, os.W_OK):
        raise PermissionError(f"{folder} is not writable")
    except OSError as e:
      warnings.warn(f"compilation cache off: {e}", stacklevel=2)
      folder = None
  if folder is None and not jax.config.jax_compilation_cache_dir:
    return None                      # already off: nothing to reset
  compilation_cache.set_cache_dir(None if folder is None else str(folder))
  compilation_cache.reset_cache()    # a process that already compiled re-reads the setting
  return folder


def enable_default() -> pathlib.Path | None:
  """The libraries' default: the cache on unless something chose otherwise (idempotent).

  The first call decides, later ones return the folder in use. It changes
  nothing when :func:`enable` already ran (a CLI's ``--compile-cache``) or
  when ``jax_compilation_cache_dir`` is already set (the user's own folder,
  e.g. ``JAX_COMPILATION_CACHE_DIR``); ``ESPCN_MTCNN_JAX_COMPILE_CACHE=off``
  keeps it off; otherwise it enables :func:`default_cache_dir`.

  Returns:
    The folder in use, or ``None`` when the cache is off.
  """
  import jax  # pylint: disable=import-outside-toplevel
  global _decided
  with _decide_lock:
    if not _decided and not jax.config.jax_compilation_cache_dir:
      if default_cache_dir() is not None:
        enable("auto")
    _decided = True
  folder = jax.config.jax_compilation_cache_dir
  return pathlib.Path(folder) if folder else None


def program_store() -> pathlib.Path | None:
  """``<compilation cache folder>/programs`` when the cache is on and ``jax.export``
  can serialise (it needs the ``flatbuffers`` package), else ``None``."""
  import jax  # pylint: disable=import-outside-toplevel
  folder = jax.config.jax_compilation_cache_dir
  if not folder or importlib.util.find_spec("flatbuffers") is None:
    return None
  return pathlib.Path(folder) / PROGRAMS_SUBDIR


def source_digest(*modules: Any) -> str:
  """16 hex digits over the source files of ``modules``: part of a stored program's
  key, so that a changed library never runs a program exported by an older one."""
  h = hashlib.sha256()
  for module in modules:
    h.update(pathlib.Path(module.__file__).read_bytes())
  return h.hexdigest()[:16]


def _program_path(store: pathlib.Path, name: str, key: str) -> pathlib.Path:
  import jax  # pylint: disable=import-outside-toplevel
  import jaxlib  # pylint: disable=import-outside-toplevel
  text = f"{jax.__version__}|{jaxlib.__version__}|{jax.default_backend()}|{key}"
  return store / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:24]}.jaxexport"


def load_or_export(store: pathlib.Path, name: str, key: str, export: Callable[[], Any]):
  """A ``jax.export.Exported`` from ``store``, or made by ``export()`` and saved there.

  Args:
    store: the folder (:func:`program_store`).
    name: a file-name prefix (e.g. ``"mtcnn-cascade"``).
    key: text naming the program completely (shapes, settings,
      :func:`source_digest`); JAX's version and the backend are added.
    export: makes the ``Exported`` when none is stored (or the file is unreadable).

  Returns:
    The ``Exported``. Saving is best effort: a folder that cannot be written
    only costs the next process its tracing time.
  """
  from jax import export as jax_export  # pylint: disable=import-outside-toplevel
  path = _program_path(store, name, key)
  if path.is_file():
    try:
      return jax_export.deserialize(bytearray(path.read_bytes()))
    except Exception:  # pylint: disable=broad-except  # a stale or torn file: export again
      pass
  exported = export()
  try:
    store.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(exported.serialize())
    os.replace(tmp, path)
  except OSError as e:
    warnings.warn(f"could not keep the exported program in {store}: {e}", stacklevel=2)
  return exported
