"""The persistent compilation cache of the CLIs (espcn_mtcnn_common/compile_cache.py).

The round trips run in child processes: a cache only matters across processes,
and this test process keeps the cache off (conftest sets the variable to "off").
"""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from espcn_mtcnn_common import compile_cache

REPO = pathlib.Path(__file__).resolve().parents[2]
# XLA:CPU rejects every entry on some Intel hosts (jax-ml/jax#38445); the cache then
# recompiles as if it were off, and these tests cannot show a hit.
_REJECTED = "doesn't match the machine type for execution"

_ROUND_TRIP = """
import sys
import jax, jax.numpy as jnp, numpy as np
from espcn_mtcnn_common import compile_cache
hits = []
jax.monitoring.register_event_listener(
    lambda event, **kw: hits.append(event) if event.endswith("cache_hits") else None)
print("folder", compile_cache.enable(sys.argv[1]))
f = jax.jit(lambda x: jnp.tanh(x @ x.T).sum(axis=0))
print("value", float(f(jnp.arange(12.0).reshape(3, 4) / 10)[0]))
print("hits", len(hits))
"""


def _child_env(**extra) -> dict:
  env = dict(os.environ)
  env.pop(compile_cache.ENV_VAR, None)
  env.pop("JAX_COMPILATION_CACHE_DIR", None)
  env.pop("JAX_PERSISTENT_CACHE_ENABLE_XLA_CACHES", None)
  # Store every program, however quick to compile, so tiny ones show the mechanism.
  env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  env.update(extra)
  return env


def _run(args, env) -> subprocess.CompletedProcess:
  done = subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True,
                        text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  if _REJECTED in done.stderr:
    pytest.skip("XLA:CPU rejects its own cache entries on this host (jax-ml/jax#38445)")
  return done


def _lines(stdout: str) -> dict:
  return dict(line.split(" ", 1) for line in stdout.splitlines() if " " in line)


def test_machine_tag_hashes_the_first_cpu_only(tmp_path):
  cpuinfo = tmp_path / "cpuinfo"
  block = "processor\t: {n}\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 {extra}\n\n"
  cpuinfo.write_text(block.format(n=0, extra="avx512f") + block.format(n=1, extra="other"))
  description = compile_cache._cpu_description(str(cpuinfo))
  assert description == "Some CPU\nfpu sse2 avx512f\n\n"
  tag = compile_cache.machine_tag(description)
  assert len(tag) == 12 and int(tag, 16) >= 0
  assert tag == compile_cache.machine_tag(description)
  assert tag != compile_cache.machine_tag(description.replace("avx512f", "avx2"))
  assert compile_cache.machine_tag() == compile_cache.machine_tag(compile_cache._cpu_description())


def test_default_folder_follows_the_environment(tmp_path):
  tag = compile_cache.machine_tag()
  var = compile_cache.ENV_VAR
  assert compile_cache.default_cache_dir({var: "off"}) is None
  assert compile_cache.default_cache_dir({var: "OFF "}) is None
  assert compile_cache.default_cache_dir({var: str(tmp_path / "c")}) == tmp_path / "c"
  assert (compile_cache.default_cache_dir({"XDG_CACHE_HOME": str(tmp_path)})
          == tmp_path / "espcn-mtcnn-jax" / f"xla-{tag}")
  home = pathlib.Path("~/.cache").expanduser()
  assert compile_cache.default_cache_dir({}) == home / "espcn-mtcnn-jax" / f"xla-{tag}"


def test_enable_off_and_unusable_folders_leave_jax_alone(tmp_path):
  import jax
  before = jax.config.jax_compilation_cache_dir
  assert compile_cache.enable("off") is None
  assert compile_cache.enable("auto") is None      # conftest sets the variable to "off"
  not_a_folder = tmp_path / "file"
  not_a_folder.write_text("x")
  with pytest.warns(UserWarning, match="compilation cache off"):
    assert compile_cache.enable(not_a_folder / "cache") is None
  assert jax.config.jax_compilation_cache_dir == before


def test_off_overrides_a_folder_set_through_jax(tmp_path):
  import jax
  before = jax.config.jax_compilation_cache_dir
  try:
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "jax"))
    assert compile_cache.enable("auto") is None    # the variable says off
    assert jax.config.jax_compilation_cache_dir is None
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "jax"))
    assert compile_cache.enable("off") is None
    assert jax.config.jax_compilation_cache_dir is None
  finally:
    jax.config.update("jax_compilation_cache_dir", before)


def test_a_second_process_loads_what_the_first_compiled(tmp_path):
  folder = tmp_path / "xla"
  script = tmp_path / "round_trip.py"
  script.write_text(_ROUND_TRIP)
  first = _lines(_run([str(script), str(folder)], _child_env()).stdout)
  assert first["folder"] == str(folder) and first["hits"] == "0"
  assert oct(folder.stat().st_mode & 0o777) == oct(0o700)
  entries = sorted(p.name for p in folder.iterdir() if p.name.endswith("-cache"))
  assert entries, "nothing was written"
  second = _lines(_run([str(script), str(folder)], _child_env()).stdout)
  assert int(second["hits"]) >= 1
  assert second["value"] == first["value"]
  # "auto" takes the folder from the project's variable.
  third = _lines(_run([str(script), "auto"],
                      _child_env(**{compile_cache.ENV_VAR: str(folder)})).stdout)
  assert third["folder"] == str(folder) and int(third["hits"]) >= 1
  # A damaged entry is a warning and a recompile, never a failure or a wrong result.
  for name in entries:
    (folder / name).write_bytes(b"not a compiled program")
  damaged = _run([str(script), str(folder)], _child_env())
  assert "Error reading persistent compilation cache" in damaged.stderr
  assert _lines(damaged.stdout)["value"] == first["value"]


def test_a_copied_or_moved_folder_still_hits(tmp_path):
  folder = tmp_path / "first" / "xla"
  script = tmp_path / "round_trip.py"
  script.write_text(_ROUND_TRIP)
  first = _lines(_run([str(script), str(folder)], _child_env()).stdout)
  assert first["hits"] == "0"
  entries = sorted(p.name for p in folder.iterdir())
  copy = tmp_path / "elsewhere" / "deeper" / "copy"
  shutil.copytree(folder, copy)
  copied = _lines(_run([str(script), str(copy)], _child_env()).stdout)
  assert int(copied["hits"]) >= 1 and copied["value"] == first["value"]
  assert sorted(p.name for p in copy.iterdir()) == entries     # nothing compiled anew
  moved = tmp_path / "moved"
  folder.rename(moved)
  again = _lines(_run([str(script), str(moved)], _child_env()).stdout)
  assert int(again["hits"]) >= 1 and sorted(p.name for p in moved.iterdir()) == entries


def test_enable_turns_off_the_path_dependent_xla_caches(tmp_path, monkeypatch):
  import jax
  before = jax.config.jax_persistent_cache_enable_xla_caches
  try:
    monkeypatch.delenv("JAX_PERSISTENT_CACHE_ENABLE_XLA_CACHES", raising=False)
    compile_cache.enable("off")
    assert jax.config.jax_persistent_cache_enable_xla_caches == "none"
    jax.config.update("jax_persistent_cache_enable_xla_caches", "all")
    monkeypatch.setenv("JAX_PERSISTENT_CACHE_ENABLE_XLA_CACHES", "all")   # the user's choice wins
    compile_cache.enable("off")
    assert jax.config.jax_persistent_cache_enable_xla_caches == "all"
  finally:
    jax.config.update("jax_persistent_cache_enable_xla_caches", before)


def test_the_cli_writes_its_programs_to_the_folder(tmp_path):
  image = tmp_path / "in.png"
  Image.fromarray(np.full((20, 24, 3), 120, np.uint8)).save(image)
  folder = tmp_path / "xla"
  _run(["-m", "espcn_jax.cli", str(image), "-o", str(tmp_path / "out.png"),
        "--compile-cache", str(folder), "--no-progress"], _child_env())
  assert Image.open(tmp_path / "out.png").size == (72, 60)
  names = [p.name for p in folder.iterdir()]
  assert any(n.startswith("jit__forward-") for n in names), names
  _run(["-m", "espcn_jax.cli", str(image), "-o", str(tmp_path / "off.png"),
        "--compile-cache", "off", "--no-progress"],
       _child_env(XDG_CACHE_HOME=str(tmp_path / "xdg")))
  assert not (tmp_path / "xdg").exists()


_DEFAULT = """
import sys
from espcn_mtcnn_common import compile_cache
if sys.argv[1] == "cli-off":
  compile_cache.enable("off")                  # a CLI's --compile-cache off
print("folder", compile_cache.enable_default())
print("again", compile_cache.enable_default())
"""


def test_the_libraries_default_keeps_a_choice_already_made(tmp_path):
  script = tmp_path / "default.py"
  script.write_text(_DEFAULT)
  home = {"XDG_CACHE_HOME": str(tmp_path)}
  expected = tmp_path / "espcn-mtcnn-jax" / f"xla-{compile_cache.machine_tag()}"
  default = _lines(_run([str(script), "-"], _child_env(**home)).stdout)
  assert default["folder"] == default["again"] == str(expected)
  off = _lines(_run([str(script), "-"],
                    _child_env(**home, **{compile_cache.ENV_VAR: "off"})).stdout)
  assert off["folder"] == off["again"] == "None"
  mine = tmp_path / "mine"
  user = _lines(_run([str(script), "-"],
                     _child_env(**home, JAX_COMPILATION_CACHE_DIR=str(mine))).stdout)
  assert user["folder"] == str(mine)
  cli = _lines(_run([str(script), "cli-off"], _child_env(**home)).stdout)
  assert cli["folder"] == "None"


def test_load_or_export_keeps_and_reloads_a_program(tmp_path):
  pytest.importorskip("flatbuffers")
  import jax
  import jax.numpy as jnp
  calls = []

  def make():
    calls.append(1)
    return jax.export.export(jax.jit(lambda x: jnp.tanh(x) * 2))(
        jax.ShapeDtypeStruct((3,), np.float32))

  x = np.arange(3, dtype=np.float32)
  first = compile_cache.load_or_export(tmp_path, "toy", "key 1", make)
  again = compile_cache.load_or_export(tmp_path, "toy", "key 1", make)
  assert len(calls) == 1
  np.testing.assert_array_equal(np.asarray(again.call(x)), np.asarray(first.call(x)))
  (stored,) = tmp_path.glob("toy-*.jaxexport")
  stored.write_bytes(b"torn")                     # a damaged file is exported again
  compile_cache.load_or_export(tmp_path, "toy", "key 1", make)
  compile_cache.load_or_export(tmp_path, "toy", "key 2", make)   # another key, another file
  assert len(calls) == 3 and len(list(tmp_path.glob("toy-*.jaxexport"))) == 2


def test_source_digest_follows_the_files():
  from espcn_mtcnn_common import compile_notice
  assert compile_cache.source_digest(compile_cache) == compile_cache.source_digest(compile_cache)
  assert compile_cache.source_digest(compile_cache) != compile_cache.source_digest(compile_notice)
