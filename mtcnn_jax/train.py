"""MTCNN training: P-Net, R-Net and O-Net, one jitted step per stage, resumable.

``train_and_evaluate(config, workdir)`` is what ``python train.py mtcnn``
runs: the stage ``config.stage`` names, or with ``"all"`` the whole cascade
in order (:func:`train_cascade`), each stage mining its samples with the
stages trained before it. Per stage (:func:`train_stage`):

1. its sample set (:func:`mtcnn_jax.sampling.stage_samples.stage_samples`, cached under
   ``config.cache_dir`` or ``<workdir>/samples``);
2. batches with a fixed composition (``ratio``, negative:positive:part:
   landmark), batch ``s`` a pure function of ``(seed, s)``, so a resumed run
   sees the batches of an uninterrupted one (:mod:`mtcnn_jax.training_batches`);
3. Adam(W) steps of the multitask loss with OHEM (:mod:`mtcnn_jax.losses`),
   jitted with the state donated, the batch sharded over a 1-D ``data`` mesh
   and the params replicated;
4. ``<workdir>/<stage>/``: ``ckpt/`` (orbax, latest full states),
   ``metrics.jsonl``, ``stage.json`` (samples, steps, times); the final
   params go to ``<workdir>/params/<stage>.npz`` in the format of the
   shipped weights (``mtcnn_jax.params.load_params(<workdir>/params)``).

Re-running the same command resumes each stage from its latest checkpoint,
also on another number of devices (the batches stay the same); Ctrl-C saves
one first. Several processes (``python train.py mtcnn --distributed``) each
gather only their rows of every batch; process 0 makes the samples and writes
the logs, records and params, the others wait for them. A NaN loss stops with
the last good checkpoint named.
"""
from __future__ import annotations

import datetime
import functools
import json
import math
import os
import pathlib
import platform
import shlex
import shutil
import sys
import time
import warnings
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax.training import train_state
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from tqdm.auto import tqdm

from espcn_mtcnn_common import multihost
from espcn_mtcnn_common.atomic_write import write_json_atomic
from espcn_mtcnn_common.metrics_log import MetricsLog
from espcn_mtcnn_common.output_checks import check_writable_folder
from mtcnn_jax import losses, nets, params as params_lib, tfds_faces
from mtcnn_jax.cascade import DetectorConfig
from mtcnn_jax.params import NET_NAMES
from mtcnn_jax.sampling.sample_set import SampleSet
from mtcnn_jax.sampling.settings import CropSettings, IoUBands
from mtcnn_jax.sampling.stage_samples import stage_samples
from mtcnn_jax.training_batches import StratifiedBatches, batch_composition, gather_batch

__all__ = ["TrainState", "net_outputs", "create_train_state", "train_step", "eval_step",
           "mining_config", "crop_settings", "train_stage", "train_cascade",
           "train_and_evaluate"]


class TrainState(train_state.TrainState):
  """Flax train state: ``step``, ``params``, ``opt_state`` (``apply_fn``/``tx`` static)."""


# --------------------------------------------------------------------------- model and step


def _face_head(module, _method) -> bool:
  return module.name == "face"


def net_outputs(stage: str, params, images: jax.Array):
  """A net's raw training outputs on uint8 crops.

  Args:
    stage: ``"pnet"``, ``"rnet"`` or ``"onet"``.
    params: that net's params pytree.
    images: uint8 (or float in [0, 255]) ``[B, s, s, 3]`` RGB, ``s`` the net's size.

  Returns:
    ``(face_logits [B, 2], box [B, 4], landmarks [B, 10] or None)`` float32;
    the logits are the face head's input to its softmax (captured, so the
    nets stay exactly the inference modules).
  """
  x = (images.astype(jnp.float32) - 127.5) * 0.0078125
  outputs, state = _MODELS[stage].apply({"params": params}, x,
                                         capture_intermediates=_face_head,
                                         mutable=["intermediates"])
  b = images.shape[0]
  logits = state["intermediates"]["face"]["__call__"][0].reshape(b, 2)
  landmarks = outputs[2] if stage == "onet" else None
  return logits, outputs[1].reshape(b, 4), landmarks


def _schedule(stage_config) -> optax.Schedule:
  return _cosine(float(stage_config.learning_rate), int(stage_config.num_steps),
                 int(stage_config.warmup_steps))


@functools.lru_cache(maxsize=None)
def _cosine(lr: float, steps: int, warmup: int) -> optax.Schedule:
  main = optax.cosine_decay_schedule(lr, max(steps - warmup, 1), alpha=0.01)
  if warmup <= 0:
    return main
  return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])


def _kernels_only(params):
  return jax.tree_util.tree_map_with_path(
      lambda path, _: getattr(path[-1], "key", "") == "kernel", params)


# One model and one optimizer object per setting: the train state carries them as static
# fields, so equal settings must give equal objects for jit to reuse its compilation.
_MODELS = {name: cls() for name, cls in nets.NETS.items()}
_INITS = {name: jax.jit(model.init) for name, model in _MODELS.items()}   # eager init is slow


@functools.lru_cache(maxsize=None)
def _optimizer(lr: float, steps: int, warmup: int, weight_decay: float):
  return optax.adamw(_cosine(lr, steps, warmup), weight_decay=weight_decay, mask=_kernels_only)


def create_train_state(stage: str, stage_config, key: jax.Array) -> TrainState:
  """Fresh params (Linen's default initialisers) and AdamW with cosine decay (kernels decay)."""
  size = nets.INPUT_SIZES[stage]
  model = _MODELS[stage]
  params = _INITS[stage](key, jnp.zeros((1, size, size, 3), jnp.float32))["params"]
  tx = _optimizer(float(stage_config.learning_rate), int(stage_config.num_steps),
                  int(stage_config.warmup_steps), float(stage_config.weight_decay))
  return TrainState.create(apply_fn=model.apply, params=params, tx=tx)


def _loss(params, stage, batch, weights, keep_ratio):
  logits, box, landmarks = net_outputs(stage, params, batch["images"])
  return losses.multitask_loss(
      logits, box, batch["labels"], batch["boxes"], landmarks,
      batch["landmarks"] if landmarks is not None else None,
      weights=weights, keep_ratio=keep_ratio)


def train_step(state: TrainState, batch: Mapping[str, jax.Array], *, stage: str,
               weights: tuple[float, float, float], keep_ratio: float):
  """One optimiser step; returns ``(state, metrics)`` (``loss`` and the loss terms).

  ``batch``: ``images`` uint8 ``[B, s, s, 3]``, ``labels`` int8 ``[B]``,
  ``boxes`` float32 ``[B, 4]``, ``landmarks`` float32 ``[B, 10]``.
  """
  (loss, metrics), grads = jax.value_and_grad(_loss, has_aux=True)(
      state.params, stage, batch, weights, keep_ratio)
  return state.apply_gradients(grads=grads), dict(metrics, loss=loss)


def eval_step(params, batch: Mapping[str, jax.Array], *, stage: str,
              weights: tuple[float, float, float]) -> dict[str, jax.Array]:
  """The loss terms without OHEM (every classification sample counts)."""
  loss, metrics = _loss(params, stage, batch, weights, 1.0)
  return dict(metrics, loss=loss)


# --------------------------------------------------------------------------- settings


def crop_settings(config, stage: str) -> CropSettings:
  """The random-crop settings of ``stage`` from the training config."""
  s = config[stage]
  if s.size != nets.INPUT_SIZES[stage]:
    raise ValueError(f"config.{stage}.size is {s.size}, but {stage} takes "
                     f"{nets.INPUT_SIZES[stage]}x{nets.INPUT_SIZES[stage]} crops")
  return CropSettings(
      size=s.size, random_negatives=s.random_negatives, near_negatives=s.near_negatives,
      jittered=s.jittered, landmark_crops=s.landmark_crops if stage == "onet" else 0,
      min_crop_side=config.min_crop_side, min_face_side=config.min_face_side,
      landmark_min_iou=config.landmark_min_iou, flip_prob=config.flip_prob,
      bands=IoUBands(config.negative_max_iou, config.part_min_iou,
                     config.positive_min_iou))


def mining_config(config) -> DetectorConfig:
  """The cascade settings that propose R-Net's and O-Net's samples."""
  m = config.mining
  thresholds = tuple(float(t) for t in m.thresholds)
  if len(thresholds) != 2:
    raise ValueError(f"config.mining.thresholds must be (P-Net, R-Net), got {thresholds}")
  return DetectorConfig(min_face_size=float(m.min_face_size), thresholds=thresholds + (0.7,),
                        level_top_k=m.level_top_k, stage1_pool=m.stage1_pool, rnet_k=m.rnet_k,
                        onet_k=m.onet_k)


def _read_net(folder: str, name: str) -> dict:
  if folder == "published":
    return params_lib.load_params("published")[name]
  path = pathlib.Path(folder) / f"{name}.npz"
  if not path.is_file():
    raise FileNotFoundError(f"{path} is missing: train {name} first (python train.py mtcnn "
                            f"--config.stage={name}) or set config.earlier_params to a folder "
                            f"holding {name}.npz (or 'published')")
  with np.load(path, allow_pickle=False) as f:
    tree = params_lib.unflatten_params({k: f[k] for k in f.files})
  try:
    params_lib.check_params(name, tree)
  except ValueError as e:
    raise ValueError(f"{path}: {e}") from None
  return jax.tree.map(jnp.asarray, tree)


def _earlier_params(config, workdir: pathlib.Path, stage: str) -> dict | None:
  needed = NET_NAMES[: NET_NAMES.index(stage)]
  if not needed:
    return None
  folder = config.earlier_params or str(workdir / "params")
  return {name: _read_net(folder, name) for name in needed}


# --------------------------------------------------------------------------- bookkeeping


def _machine() -> dict:
  return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
          "cpu_count": os.cpu_count(), "jax": jax.__version__,
          "devices": [str(d) for d in jax.devices()]}


def _holdout(samples: SampleSet, every: int):
  if not every:
    return samples, None
  held = samples.image_ids % every == every - 1
  if held.all() or not held.any():
    return samples, None
  return samples.select(~held), samples.select(held)


def _validate(eval_fn, params, val: SampleSet, batch_size: int, sharding) -> dict:
  """Loss terms over a held-out set, each averaged over its own samples."""
  sums = {k: 0.0 for k in ("det", "box", "landmark", "accuracy")}
  counts = {"det": 0.0, "box": 0.0, "landmark": 0.0}
  rows = multihost.process_rows(sharding, batch_size)
  for start in range(0, len(val), batch_size):
    index = np.arange(start, min(start + batch_size, len(val)))
    batch = gather_batch(val, index)
    pad = batch_size - len(index)
    if pad:   # label -1 belongs to no task
      batch = {k: np.concatenate([v, np.zeros((pad,) + v.shape[1:], v.dtype)])
               for k, v in batch.items()}
      batch["labels"][-pad:] = -1
    local = {k: v[rows] for k, v in batch.items()}
    batch = {k: multihost.global_array(sharding, v, batch_size) for k, v in local.items()}
    m = jax.device_get(eval_fn(params, batch))
    for term, n in (("det", "n_det"), ("box", "n_box"), ("landmark", "n_landmark")):
      sums[term] += float(m[term]) * float(m[n])
      counts[term] += float(m[n])
    sums["accuracy"] += float(m["accuracy"]) * float(m["n_det"])
  out = {f"val_{k}": sums[k] / counts[k] for k in ("det", "box", "landmark") if counts[k]}
  if counts["det"]:
    out["val_accuracy"] = sums["accuracy"] / counts["det"]
  return out


@functools.lru_cache(maxsize=None)
def _step_functions(stage: str, weights: tuple[float, float, float], keep_ratio: float,
                    devices: tuple):
  """Jitted ``(train_step, eval_step)`` over a ``data`` mesh of ``devices``, and the
  ``(replicated, batch)`` shardings; cached, so runs in one process compile once."""
  mesh = Mesh(np.array(devices), ("data",))
  replicated = NamedSharding(mesh, P())
  batch_sharding = NamedSharding(mesh, P("data"))
  step_fn = jax.jit(functools.partial(train_step, stage=stage, weights=weights,
                                      keep_ratio=keep_ratio),
                    in_shardings=(replicated, batch_sharding),
                    out_shardings=(replicated, replicated), donate_argnums=0)
  eval_fn = jax.jit(functools.partial(eval_step, stage=stage, weights=weights),
                    in_shardings=(replicated, batch_sharding), out_shardings=replicated)
  return step_fn, eval_fn, replicated, batch_sharding


# --------------------------------------------------------------------------- one stage


def _batch_plan(config, stage: str) -> tuple[tuple[int, int, int, int], list]:
  """The batch's composition per sample type and the devices it is sharded over.

  Raises:
    ValueError: a landmark share for a net without a landmark head, or a batch
      the devices do not divide.
  """
  s = config[stage]
  composition = batch_composition(s.batch_size, s.ratio)
  if stage != "onet" and composition[3]:
    raise ValueError(f"{stage} has no landmark head; set config.{stage}.ratio's landmark share "
                     "to 0")
  multihost.check_num_devices(config.num_devices)
  devices = jax.devices()[: config.num_devices] if config.num_devices else jax.devices()
  if s.batch_size % len(devices):
    raise ValueError(f"batch_size {s.batch_size} must be divisible by the {len(devices)} "
                     "devices for data parallelism")
  return composition, devices


def _load_stage_samples(config, workdir: pathlib.Path, stage: str) -> tuple[SampleSet, dict]:
  """The stage's sample set, mined with the earlier stages (R-Net, O-Net), and its info."""
  s = config[stage]
  earlier = _earlier_params(config, workdir, stage)
  # "tfds:wider_face:train" / "tfds:celeb_a:train" are written out once under the workdir.
  faces = tfds_faces.resolve(config.face_annotations, workdir / "tfds",
                             progress=config.progress_bar)
  landmarks = (tfds_faces.resolve(config.landmark_annotations, workdir / "tfds",
                                  progress=config.progress_bar) if stage == "onet" else "")
  samples, info = stage_samples(
      stage, crop_settings(config, stage), face_annotations=faces,
      landmark_annotations=landmarks,
      # A TFDS landmark split trains on the split it names (slicing dropped).
      landmark_split=tfds_faces.spec_split(config.landmark_annotations) or config.landmark_split,
      earlier_params=earlier,
      mining=mining_config(config) if earlier is not None else None,
      max_mined_negatives=s.max_mined_negatives,
      mined_landmarks_per_face=s.mined_landmarks_per_face if stage == "onet" else 0,
      landmark_candidate_min_iou=config.landmark_candidate_min_iou, seed=config.seed,
      cache_dir=config.cache_dir or workdir / "samples", workers=config.workers,
      progress=config.progress_bar)
  if multihost.is_primary():
    print(f"{stage}: {len(samples)} samples {info['counts']} "
          + ("(cached)" if info["cached"] else f"generated in {info['seconds']:.1f} s"))
  return samples, info


def _start_record(stage_dir: pathlib.Path, stage: str, stage_config, composition, info: dict,
                  samples: SampleSet, train_set: SampleSet, val_set: SampleSet | None) -> dict:
  """Writes ``stage.json`` (samples, batch, steps) before training, and returns it.

  Raises:
    ValueError: ``stage_dir`` holds checkpoints trained on other samples.
  """
  record_path = stage_dir / "stage.json"
  old = json.loads(record_path.read_text()) if record_path.exists() else {}
  if old.get("samples_key") not in (None, info["key"]) and (stage_dir / "ckpt").exists():
    raise ValueError(f"{stage_dir} was trained on other samples (the data, the sampling "
                     "settings or the earlier stages changed); use another --workdir or remove "
                     f"{stage_dir}")
  multihost.sync(f"{stage} record checked")   # before process 0 replaces it
  record = {"stage": stage, "samples_key": info["key"], "samples": info["counts"],
            "samples_total": len(samples), "train_samples": len(train_set),
            "val_samples": 0 if val_set is None else len(val_set),
            "generation_seconds": old.get("generation_seconds", 0.0) + info["seconds"],
            "batch_size": stage_config.batch_size,
            "composition": dict(zip(losses.SAMPLE_TYPES, composition)),
            "num_steps": stage_config.num_steps}
  if multihost.is_primary():
    write_json_atomic(record_path, record, indent=2)
  return record


def _set_aside(manager: ocp.CheckpointManager, stage_dir: pathlib.Path, step: int) -> None:
  """Moves a damaged checkpoint step to ``<stage_dir>/ckpt_damaged/<step>`` (kept for a
  look, out of the manager's way: the resumed run saves that step again)."""
  if multihost.is_primary():
    target = stage_dir / "ckpt_damaged" / str(step)
    if target.exists():
      shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(stage_dir / "ckpt" / str(step)), str(target))
  multihost.sync(f"mtcnn set aside {step}")
  manager.reload()


def _restore_latest_intact(stage: str, state: TrainState, manager: ocp.CheckpointManager,
                           stage_dir: pathlib.Path) -> TrainState | None:
  """The newest checkpoint that restores onto ``state``'s shapes, or None when there is
  none. Damaged ones (truncated data, empty metadata) are set aside with a warning.

  Raises:
    ValueError: checkpoints exist but none of them is intact.
  """
  steps = sorted(manager.all_steps(), reverse=True)
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
  for step in steps:
    try:
      return manager.restore(step, args=ocp.args.StandardRestore(abstract))
    except Exception as e:  # noqa: BLE001 -- orbax/tensorstore raise many kinds on bad files
      first_line = (str(e).strip().splitlines() or [""])[0][:200]
      warnings.warn(f"{stage}: checkpoint step {step} in {stage_dir / 'ckpt'} is damaged "
                    f"({type(e).__name__}: {first_line}); set aside in "
                    f"{stage_dir / 'ckpt_damaged'}, trying an older one", stacklevel=2)
      _set_aside(manager, stage_dir, step)
  if steps:
    raise ValueError(f"{stage}: no intact checkpoint in {stage_dir / 'ckpt'} (steps "
                     f"{sorted(steps)} damaged, now in {stage_dir / 'ckpt_damaged'}); "
                     "re-run to train the stage from the start")
  return None


def _initial_state(config, stage: str, replicated, manager: ocp.CheckpointManager,
                   stage_dir: pathlib.Path) -> tuple[TrainState, int]:
  """A fresh state, or the latest intact checkpoint's when there is one; and its step.

  The checkpoint is restored onto the fresh state's shapes and ``replicated``
  sharding (an explicit target), so a stage saved on any device count resumes
  on this one. A damaged newest checkpoint is set aside with a warning and the
  next older one resumed (:func:`_restore_latest_intact`).
  """
  key = jax.random.key(config.seed)
  state = jax.device_put(jax.device_get(
      create_train_state(stage, config[stage], jax.random.fold_in(key, NET_NAMES.index(stage)))),
      replicated)
  start = 0
  restored = _restore_latest_intact(stage, state, manager, stage_dir)
  if restored is not None:
    state, start = restored, int(restored.step)
    if multihost.is_primary():
      print(f"Resuming {stage} from step {start} in {stage_dir / 'ckpt'}")
  return state, start


class _MetricsWriter:
  """A stage's step metrics since it (re)started: kept on the device between log points,
  then fetched, checked, averaged and written to ``metrics.jsonl`` and the progress bar."""

  def __init__(self, stage: str, stage_dir: pathlib.Path, stage_config, start: int):
    self.stage, self.stage_dir = stage, stage_dir
    self.primary = multihost.is_primary()   # only process 0 writes the log
    self.log = MetricsLog(stage_dir / "metrics.jsonl", start) if self.primary else None
    last = self.log.last if self.primary and start else {}
    self.elapsed_before = float(last.get("elapsed_s", 0.0))
    self.schedule = _schedule(stage_config)
    self.batch_size = stage_config.batch_size
    self.last: dict = dict(last)                              # the last record written
    self.pending: list[dict] = []                            # device metrics since then
    self.session_start = time.perf_counter()
    self.tick, self.tick_step = self.session_start, start

  def summarize(self, done: int, last_good_step: Callable[[], int | None]) -> dict:
    """The pending steps' mean loss terms with ``step``, ``lr``, rates and ``elapsed_s``.

    Raises:
      FloatingPointError: a loss is not finite (the message names the last
        good checkpoint, ``last_good_step()``).
    """
    values = jax.device_get(self.pending)
    self.pending = []
    losses_seen = np.array([float(v["loss"]) for v in values])
    if not np.all(np.isfinite(losses_seen)):
      raise FloatingPointError(
          f"{self.stage}: loss became {losses_seen[~np.isfinite(losses_seen)][0]} near step "
          f"{done}; the last good checkpoint is step {last_good_step()} in "
          f"{self.stage_dir / 'ckpt'}. Lower config.{self.stage}.learning_rate, then re-run to "
          "resume.")
    now = time.perf_counter()
    rate = (done - self.tick_step) / max(now - self.tick, 1e-9)
    self.tick, self.tick_step = now, done
    record = {"step": done, "lr": float(self.schedule(done - 1)), "steps_per_sec": rate,
              "samples_per_sec": rate * self.batch_size,
              "elapsed_s": self.elapsed_before + now - self.session_start}
    for k in ("loss", "det", "box", "landmark", "accuracy"):
      record[k] = float(np.mean([float(v[k]) for v in values]))
    return record

  def write(self, record: dict, bar, validated: bool) -> None:
    """Appends ``record`` to the log and shows it on ``bar`` (validation terms on a line)."""
    self.last = record
    if not self.primary:
      return
    self.log.write(record)
    bar.set_postfix(loss=f"{record['loss']:.3g}", acc=f"{record['accuracy']:.3f}")
    if validated:
      bar.write(f"{self.stage} step {record['step']}: loss {record['loss']:.4f}  "
                + "  ".join(f"{k} {v:.4f}" for k, v in record.items() if k.startswith("val_")))


def _save_interrupted(stage: str, state: TrainState, manager: ocp.CheckpointManager) -> None:
  """Ctrl-C: checkpoint the current state (unless it is the latest already)."""
  done = int(jax.device_get(state.step))
  if manager.latest_step() != done:
    manager.save(done, args=ocp.args.StandardSave(state), force=True)
  manager.wait_until_finished()
  if multihost.is_primary():
    print(f"Interrupted {stage} at step {done}; checkpoint saved. Re-run the same command to "
          "resume.")


def _train_loop(config, stage: str, state: TrainState, start: int, data, functions,
                manager: ocp.CheckpointManager, metrics: _MetricsWriter,
                step_hook: Callable[[int], Any] | None) -> TrainState:
  """Steps ``start`` .. ``num_steps`` with logging, validation and checkpoints; closes
  ``manager``. ``data``: ``(train_set, val_set, batches)``; ``functions``: what
  :func:`_step_functions` returns."""
  s = config[stage]
  train_set, val_set, batches = data
  step_fn, eval_fn, _, batch_sharding = functions
  bar = tqdm(total=s.num_steps, initial=start, desc=stage, unit="step", dynamic_ncols=True,
             disable=not (config.progress_bar and multihost.is_primary()))
  rows = multihost.process_rows(batch_sharding, s.batch_size)   # this process's share
  try:
    for step in range(start, s.num_steps):
      local = gather_batch(train_set, batches.indices(step)[rows])
      batch = {k: multihost.global_array(batch_sharding, v, s.batch_size)
               for k, v in local.items()}
      state, step_metrics = step_fn(state, batch)
      metrics.pending.append(step_metrics)
      done = step + 1
      bar.update(1)
      last = done == s.num_steps
      eval_now = val_set is not None and (done % config.eval_every == 0 or last)
      save_now = done % config.checkpoint_every == 0 or last
      if done % config.log_every == 0 or last or save_now or eval_now:
        # Metrics are fetched (a device sync) only here, and checked before any save.
        record = metrics.summarize(done, manager.latest_step)
        if eval_now:
          record.update(_validate(eval_fn, state.params, val_set, s.batch_size, batch_sharding))
        metrics.write(record, bar, eval_now)
        if save_now:
          manager.save(done, args=ocp.args.StandardSave(state), force=True)
      if step_hook is not None:
        step_hook(done)
  except KeyboardInterrupt:
    _save_interrupted(stage, state, manager)
    raise
  finally:
    bar.close()
    manager.wait_until_finished()
    manager.close()
  return state


def _finish_stage(workdir: pathlib.Path, stage: str, state: TrainState, record: dict,
                  result: dict) -> dict[str, float]:
  """Writes ``<workdir>/params/<stage>.npz`` and the final ``stage.json`` (process 0;
  the others wait for them); returns the last metrics."""
  params = jax.device_get(state.params)
  if multihost.is_primary():
    params_lib.save_params({stage: params}, workdir / "params")
    record.update(train_seconds=round(float(result.get("elapsed_s", 0.0)), 1),
                  final={k: v for k, v in result.items() if k != "step"})
    write_json_atomic(workdir / stage / "stage.json", record, indent=2)
  multihost.sync(f"{stage} finished")
  return {k: v for k, v in result.items() if isinstance(v, (int, float))}


def train_stage(config: ml_collections.ConfigDict, workdir: str | os.PathLike, stage: str, *,
                step_hook: Callable[[int], Any] | None = None) -> dict[str, float]:
  """Train one net of the cascade as ``config`` says; resumes from ``workdir``.

  Args:
    config: see ``mtcnn_jax/configs/cascade.py``.
    workdir: the cascade's workdir (this stage uses ``<workdir>/<stage>/``
      and writes ``<workdir>/params/<stage>.npz``).
    stage: ``"pnet"``, ``"rnet"`` or ``"onet"``.
    step_hook: called with the step number after every step (tests use it to
      simulate interruptions).

  Returns:
    The last logged metrics (loss terms, validation terms if any).
  """
  if stage not in NET_NAMES:
    raise ValueError(f"stage must be one of {', '.join(NET_NAMES)}, got {stage!r}")
  s = config[stage]
  workdir = pathlib.Path(workdir).resolve()
  stage_dir = workdir / stage
  stage_dir.mkdir(parents=True, exist_ok=True)
  composition, devices = _batch_plan(config, stage)
  functions = _step_functions(stage, tuple(float(w) for w in s.weights),
                              float(config.keep_ratio), tuple(devices))
  # Process 0 makes (and caches) the samples; the others then read its cache.
  primary = multihost.is_primary()
  samples, info = _load_stage_samples(config, workdir, stage) if primary else (None, None)
  multihost.sync(f"{stage} samples")
  if samples is None:
    samples, info = _load_stage_samples(config, workdir, stage)
  train_set, val_set = _holdout(samples, config.holdout_every)
  batches = StratifiedBatches(train_set.labels, composition, config.seed)
  record = _start_record(stage_dir, stage, s, composition, info, samples, train_set, val_set)
  options = ocp.CheckpointManagerOptions(max_to_keep=config.keep_checkpoints, create=True)
  manager = ocp.CheckpointManager(stage_dir / "ckpt", options=options)
  state, start = _initial_state(config, stage, functions[2], manager, stage_dir)
  metrics = _MetricsWriter(stage, stage_dir, s, start)
  state = _train_loop(config, stage, state, start, (train_set, val_set, batches), functions,
                      manager, metrics, step_hook)
  return _finish_stage(workdir, stage, state, record, metrics.last)


# --------------------------------------------------------------------------- the cascade


def _command_line(workdir: str) -> str:
  """The command that trained this cascade: the real one (flag overrides included) under train.py."""
  if pathlib.Path(sys.argv[0]).name == "train.py":
    return shlex.join(["python", "train.py", *sys.argv[1:]])
  return f"python train.py mtcnn --config=mtcnn_jax/configs/cascade.py --workdir={workdir}"


def train_cascade(config: ml_collections.ConfigDict, workdir: str | os.PathLike, *,
                  step_hook: Callable[[str, int], Any] | None = None) -> dict[str, float]:
  """P-Net, then R-Net, then O-Net, each mining with the ones before it.

  Writes ``<workdir>/params/model_card.json`` (data, config, per-stage
  samples, steps and times, machine). Finished stages are not retrained
  (their checkpoints are complete), so re-running resumes where it stopped.

  Returns:
    Every stage's last metrics, keys prefixed with the stage (``pnet_loss``).
  """
  given, workdir = str(workdir), pathlib.Path(workdir).resolve()
  if config.earlier_params:
    raise ValueError("config.earlier_params is for training one stage; the whole cascade mines "
                     "with the stages it trains")
  out: dict[str, float] = {}
  stages: dict[str, dict] = {}
  for stage in NET_NAMES:
    hook = None if step_hook is None else (lambda step, stage=stage: step_hook(stage, step))
    result = train_stage(config, workdir, stage, step_hook=hook)
    out.update({f"{stage}_{k}": v for k, v in result.items() if k != "step"})
    stages[stage] = json.loads((workdir / stage / "stage.json").read_text())
  card = {
      "name": "mtcnn_jax self-trained cascade",
      "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "data": {"faces": config.face_annotations,
               "landmarks": f"{config.landmark_annotations} (split {config.landmark_split})"},
      "command": _command_line(given),
      "stages": stages,
      "total_seconds": round(sum(st.get("generation_seconds", 0.0) + st.get("train_seconds", 0.0)
                                 for st in stages.values()), 1),
      "machine": _machine(),
      "config": config.to_dict(),
  }
  if multihost.is_primary():
    write_json_atomic(workdir / "params" / "model_card.json", card, indent=2, default=str)
  return out


def check_config(config: ml_collections.ConfigDict) -> None:
  """Refuses settings that cannot train, before samples are made (ValueError naming the field).

  ``stage`` is ``all`` or a net; each net's ``batch_size`` and ``num_steps`` and the
  ``log_every`` / ``eval_every`` / ``checkpoint_every`` / ``keep_checkpoints`` intervals
  are integers >= 1; learning rates are finite and >= 0.
  """
  if config.stage not in ("all", *NET_NAMES):
    raise ValueError(f"config.stage must be 'all' or one of {NET_NAMES}, got {config.stage!r}")
  fields = [(f"{n}.{k}", config[n][k]) for n in NET_NAMES for k in ("batch_size", "num_steps")]
  fields += [(k, config[k]) for k in ("log_every", "eval_every", "checkpoint_every",
                                      "keep_checkpoints")]
  for name, value in fields:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ValueError(f"config.{name} must be an integer >= 1, got {value!r}")
  for n in NET_NAMES:
    lr = config[n].learning_rate
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr >= 0):
      raise ValueError(f"config.{n}.learning_rate must be a finite number >= 0, got {lr!r}")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
  """``python train.py mtcnn``: ``config.stage`` = ``all`` (the cascade) or one stage."""
  check_config(config)
  check_writable_folder(workdir, "the workdir", create=True)   # before any work
  if config.stage == "all":
    return train_cascade(config, workdir)
  return train_stage(config, workdir, config.stage)
