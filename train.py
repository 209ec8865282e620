"""Train a model of this project: ``python train.py TASK --config=FILE --workdir=DIR``.

Tasks:
  espcn   ESPCN super-resolution (espcn_jax.train.train_and_evaluate)
  mtcnn   MTCNN P-/R-/O-Net, one stage or the whole cascade (mtcnn_jax.train)

Example::

  python train.py espcn --config=espcn_jax/configs/default.py --workdir=runs/espcn_x3 \\
      --config.num_steps=5000

``--config.KEY=VALUE`` overrides any config field; re-running the same command
resumes from the latest checkpoint in ``--workdir``. ``python train.py TASK
--help`` lists the flags.

Several hosts (data parallel over every host's devices): run the same command
on each with ``--distributed``, which calls ``jax.distributed.initialize()``.
On Cloud TPU, SLURM and the other clusters JAX detects, nothing else is
needed; elsewhere add ``--coordinator_address=HOST:PORT --num_processes=N
--process_id=I`` (``I`` = 0 .. N-1 on the hosts, the same workdir on a shared
filesystem). Process 0 writes the metrics, model info and progress bar. If
one process dies the others stop with an error (at once when they were in a
collective, else once ``--heartbeat_timeout`` seconds pass without news), and
re-running every process resumes from the latest checkpoint::

  python train.py espcn --config=espcn_jax/configs/default.py:smoke --workdir=/shared/run \
      --distributed --coordinator_address=10.0.0.1:8476 --num_processes=2 --process_id=0
"""
from __future__ import annotations

import os
import sys

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from espcn_jax import train as espcn_train
from espcn_mtcnn_common import compile_cache
from espcn_mtcnn_common.cli_helpers import install_warning_format
from mtcnn_jax import train as mtcnn_train

# Task -> (its trainer module, with train_and_evaluate(config, workdir); default config).
_TASKS = {
    "espcn": (espcn_train, "espcn_jax/configs/default.py"),
    "mtcnn": (mtcnn_train, "mtcnn_jax/configs/cascade.py"),
}


def _usage() -> str:
  return __doc__ + "\nKnown tasks: " + ", ".join(_TASKS) + "\n"


def _define_distributed_flags() -> dict:
  return {
      "distributed": flags.DEFINE_bool(
          "distributed", False, "Join a multi-process run (jax.distributed.initialize()); "
          "see the module doc."),
      "coordinator_address": flags.DEFINE_string(
          "coordinator_address", None, "With --distributed: HOST:PORT of process 0 "
          "(default: detected from the cluster)."),
      "num_processes": flags.DEFINE_integer(
          "num_processes", None, "With --distributed: how many processes (default: detected)."),
      "process_id": flags.DEFINE_integer(
          "process_id", None, "With --distributed: this process's index (default: detected)."),
      "heartbeat_timeout": flags.DEFINE_integer(
          "heartbeat_timeout", None, "With --distributed: seconds without news from a process "
          "before the others stop (default: JAX's, 100)."),
  }


def _initialize_distributed(values: dict) -> None:
  """``jax.distributed.initialize`` with the given flags (``None``: JAX detects them).

  CPU collectives go over gloo, so that CPU-only hosts work too.
  """
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  timeout = {} if values["heartbeat_timeout"] is None else {
      "heartbeat_timeout_seconds": values["heartbeat_timeout"]}
  jax.distributed.initialize(coordinator_address=values["coordinator_address"],
                             num_processes=values["num_processes"],
                             process_id=values["process_id"], **timeout)


def _stop_distributed(e: BaseException) -> None:
  """Ends a process of a multi-process run that failed, without waiting on the others.

  A dead peer shows up here as a failed collective; exiting at once (rather
  than in JAX's shutdown barrier, which waits for the others' heartbeats)
  stops this process with a clear message instead of hanging.
  """
  print(f"error: process {jax.process_index()} of {jax.process_count()} stopped: "
        f"{type(e).__name__}: {str(e)[:500]}\nIf another process died, re-run every process "
        "with the same command to resume from the latest checkpoint.", file=sys.stderr,
        flush=True)
  sys.stdout.flush()
  os._exit(3)


def main() -> None:
  install_warning_format()
  if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help", "help"):
    print(_usage())
    sys.exit(0 if len(sys.argv) >= 2 else 2)
  task = sys.argv[1]
  if task not in _TASKS:
    print(f"unknown task {task!r}\n\n{_usage()}", file=sys.stderr)
    sys.exit(2)
  trainer, default_config = _TASKS[task]
  config_flag = config_flags.DEFINE_config_file(
      "config", default_config, "Training config file (python, get_config()); "
      "add :VARIANT for a variant, e.g. :smoke.", lock_config=True)
  workdir_flag = flags.DEFINE_string("workdir", None, "Checkpoints and metrics go here; "
                                     "an existing workdir is resumed.", required=True)
  cache_flag = flags.DEFINE_string(
      "compile_cache", None, "Folder for compiled XLA programs, so a resumed run skips "
      "recompiling; 'off' to disable (default: as the other CLIs, see "
      "espcn_mtcnn_common/compile_cache.py).")
  distributed = _define_distributed_flags()

  def run(argv):
    logging.set_verbosity(logging.WARNING)  # orbax logs every file operation at INFO
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    config = config_flag.value
    if config.task != task:
      raise app.UsageError(f"config is for task {config.task!r}, not {task!r}")
    values = {k: v.value for k, v in distributed.items()}
    if values.pop("distributed"):
      _initialize_distributed(values)
    elif any(v is not None for v in values.values()):
      raise app.UsageError("--coordinator_address, --num_processes, --process_id and "
                           "--heartbeat_timeout need --distributed")
    compile_cache.enable(cache_flag.value)
    try:
      result = trainer.train_and_evaluate(config, workdir_flag.value)
    except (ValueError, FloatingPointError, FileNotFoundError, RuntimeError) as e:
      if jax.process_count() > 1:
        _stop_distributed(e)
      if isinstance(e, RuntimeError):
        raise
      # ImageError and CheckpointError are ValueErrors: bad data, another model's workdir.
      print(f"error: {e}", file=sys.stderr)
      sys.exit(2)
    if jax.process_index() == 0:
      print(" ".join(f"{k}={v:.5g}" for k, v in result.items()))

  app.run(run, argv=[f"{sys.argv[0]} {task}"] + sys.argv[2:])


if __name__ == "__main__":
  main()
