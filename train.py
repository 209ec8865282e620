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
"""
from __future__ import annotations

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from espcn_jax import train as espcn_train
from espcn_mtcnn_common import compile_cache
from mtcnn_jax import train as mtcnn_train

# Task -> (its trainer module, with train_and_evaluate(config, workdir); default config).
_TASKS = {
    "espcn": (espcn_train, "espcn_jax/configs/default.py"),
    "mtcnn": (mtcnn_train, "mtcnn_jax/configs/cascade.py"),
}


def _usage() -> str:
  return __doc__ + "\nKnown tasks: " + ", ".join(_TASKS) + "\n"


def main() -> None:
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

  def run(argv):
    logging.set_verbosity(logging.WARNING)  # orbax logs every file operation at INFO
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    config = config_flag.value
    if config.task != task:
      raise app.UsageError(f"config is for task {config.task!r}, not {task!r}")
    compile_cache.enable(cache_flag.value)
    try:
      result = trainer.train_and_evaluate(config, workdir_flag.value)
    except (ValueError, FloatingPointError, FileNotFoundError) as e:
      # ImageError and CheckpointError are ValueErrors: bad data, another model's workdir.
      print(f"error: {e}", file=sys.stderr)
      sys.exit(2)
    print(" ".join(f"{k}={v:.5g}" for k, v in result.items()))

  app.run(run, argv=[f"{sys.argv[0]} {task}"] + sys.argv[2:])


if __name__ == "__main__":
  main()
