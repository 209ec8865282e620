"""ESPCN training: jitted, data-parallel, resumable.

``train_and_evaluate(config, workdir)`` is the whole job; ``train.py`` at the
top level only parses flags. Re-running the same command resumes from the
latest checkpoint in ``workdir`` and reproduces the losses an uninterrupted
run would have given (batches are a pure function of seed and step), also on
another number of devices: the global batch stays ``config.batch_size``.
Several processes (``python train.py espcn --distributed``) train one model
over all their devices: each feeds its rows of every global batch
(:mod:`espcn_mtcnn_common.multihost`), and process 0 alone writes the log,
model info and progress bar.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil
import time
import warnings
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax.training import train_state
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from tqdm.auto import tqdm

from espcn_jax import checkpoint, data, metrics, pretrained
from espcn_jax.infer import super_resolve
from espcn_jax.model import ESPCN
from espcn_mtcnn_common import multihost
from espcn_mtcnn_common.metrics_log import MetricsLog
from espcn_mtcnn_common.output_checks import check_writable_folder

__all__ = ["TrainState", "create_model", "create_optimizer", "create_train_state",
           "train_step", "eval_step", "validate", "train_and_evaluate", "check_config"]


class TrainState(train_state.TrainState):
  """Flax train state: ``step``, ``params``, ``opt_state`` (``apply_fn``/``tx`` static)."""


def create_model(config: ml_collections.ConfigDict) -> ESPCN:
  return ESPCN(scale=config.scale, channels=config.channels,
               features=tuple(config.model.features),
               kernel_sizes=tuple(config.model.kernel_sizes),
               activation=config.model.activation, centre=config.model.centre)


def learning_rate_schedule(config) -> optax.Schedule:
  """Warm-up then ``constant``, ``cosine`` or ``step`` decay (x0.1 at 50%, 75%)."""
  lr, steps, warmup = config.learning_rate, config.num_steps, config.warmup_steps
  if config.schedule == "constant":
    main = optax.constant_schedule(lr)
  elif config.schedule == "cosine":
    main = optax.cosine_decay_schedule(lr, max(steps - warmup, 1), alpha=config.final_lr_fraction)
  elif config.schedule == "step":
    main = optax.piecewise_constant_schedule(
        lr, {int((steps - warmup) * 0.5): 0.1, int((steps - warmup) * 0.75): 0.1})
  else:
    raise ValueError(f"schedule must be constant, cosine or step, got {config.schedule!r}")
  if warmup <= 0:
    return main
  return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])


def create_optimizer(config) -> optax.GradientTransformation:
  """Adam; the last layer learns ``config.last_layer_lr_scale`` (0.1) times slower, as in the paper."""
  schedule = learning_rate_schedule(config)
  slow = lambda step: schedule(step) * config.last_layer_lr_scale
  labels = lambda params: {k: ("last" if k == "conv3" else "body") for k in params}
  tx = optax.multi_transform({"body": optax.adam(schedule), "last": optax.adam(slow)}, labels)
  if config.grad_clip_norm:
    tx = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), tx)
  return tx


def create_train_state(config, key: jax.Array) -> TrainState:
  model = create_model(config)
  p = config.patch_size
  params = model.init(key, jnp.zeros((1, p, p, config.channels), jnp.float32))["params"]
  return TrainState.create(apply_fn=model.apply, params=params, tx=create_optimizer(config))


# MATLAB rgb2ycbcr's luma row for [0, 1] inputs: Y = 16/255 + LUMA . rgb.
_LUMA = np.array([65.481, 128.553, 24.966]) / 255.0


def load_source_params(source: str) -> tuple[dict, dict]:
  """``(params, info)`` from ``"pretrained:espcn_x3_y"``, a shipped-format ``.npz``
  (its ``.json`` card beside it, e.g. an earlier release's ``espcn_x3_y.npz``)
  or a training workdir."""
  if source.endswith(".npz"):
    path = pathlib.Path(source)
    if not (path.is_file() and path.with_suffix(".json").is_file()):
      raise FileNotFoundError(f"init_from={source!r}: needs the .npz and its .json card beside it")
    card = json.loads(path.with_suffix(".json").read_text())
    params, _ = pretrained.load_pretrained(card["scale"], card["channels"], weights_dir=path.parent)
    return params, card
  if source.startswith("pretrained:"):
    stem = source.split(":", 1)[1]
    path = pretrained.WEIGHTS_DIR / f"{stem}.npz"
    if not path.is_file():
      raise FileNotFoundError(f"init_from={source!r}: no shipped model {stem!r} "
                              f"(shipped: {', '.join(pretrained.available())})")
    card = json.loads(path.with_suffix(".json").read_text())
    params, _ = pretrained.load_pretrained(card["scale"], card["channels"])
    return params, card
  return checkpoint.load_model(source)


def warm_start(params: dict, source: dict, source_info: dict, config) -> dict:
  """Initialise ``params`` from another ESPCN's ``source`` params.

  Layers with equal shapes are copied. A Y model seeds an RGB one: the first
  layer sees luma (its kernel is spread over R, G, B with BT.601 weights and
  the bias absorbs the 16/255 offset under the fixed centring) and every
  colour's sub-pixel outputs predict the grey level whose luma the Y model
  predicts, so the RGB model starts out reproducing the Y model on grey images. The last layer of a
  model for another scale keeps its fresh initialisation. The centring must
  match. Shapes: kernels ``[k, k, C_in, C_out]``, float32.
  """
  if float(source_info.get("centre", 0.0)) != float(config.model.centre):
    raise ValueError(f"init_from model has centre {source_info.get('centre')}, "
                     f"config has {config.model.centre}")
  out = jax.tree.map(np.asarray, params)
  src_c, dst_c, r = source_info["channels"], config.channels, config.scale
  for layer, sub in source.items():
    if layer not in out:
      raise ValueError(f"init_from model has a layer {layer!r} this model lacks")
    kernel, bias = np.asarray(sub["kernel"]), np.asarray(sub["bias"])
    dst = out[layer]
    if kernel.shape == dst["kernel"].shape:
      out[layer] = {"kernel": kernel, "bias": bias}
    elif layer == "conv1" and (src_c, dst_c) == (1, 3) and kernel.shape[-1] == dst["kernel"].shape[-1]:
      centre = config.model.centre
      offset = 16.0 / 255.0 + centre * _LUMA.sum() - centre   # Y - c = LUMA.(rgb - c) + offset
      out[layer] = {"kernel": (kernel * _LUMA[None, None, :, None]).astype(np.float32),
                    "bias": (bias + offset * kernel.sum(axis=(0, 1, 2))).astype(np.float32)}
    elif layer == "conv3" and source_info["scale"] == r and (src_c, dst_c) == (1, 3):
      # Each colour's sub-pixel outputs predict the grey level v with Y = 16/255 + LUMA.sum() v.
      centre, gain = config.model.centre, _LUMA.sum()
      out[layer] = {"kernel": np.concatenate([kernel / gain] * 3, axis=-1).astype(np.float32),
                    "bias": np.concatenate([(bias + centre - 16.0 / 255.0) / gain - centre] * 3,
                                           axis=-1).astype(np.float32)}
    elif layer == "conv3" and source_info["scale"] != r:
      continue   # another scale's sub-pixel layer: keep the fresh init
    else:
      raise ValueError(f"init_from layer {layer}: kernel {kernel.shape} does not fit "
                       f"{dst['kernel'].shape}")
  return jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), out)


def _loss(params, apply_fn, lr, hr, loss_type):
  sr = apply_fn({"params": params}, lr)
  diff = sr - hr
  if loss_type == "mse":
    return jnp.mean(diff ** 2)
  if loss_type == "l1":
    return jnp.mean(jnp.abs(diff))
  if loss_type == "charbonnier":
    return jnp.mean(jnp.sqrt(diff ** 2 + 1e-6))
  raise ValueError(f"loss must be mse, l1 or charbonnier, got {loss_type!r}")


def train_step(state: TrainState, lr: jax.Array, hr: jax.Array, *, loss_type: str = "mse"):
  """One optimiser step on a batch ``lr [B,p,p,C]``, ``hr [B,pr,pr,C]``; returns ``(state, loss)``."""
  loss, grads = jax.value_and_grad(_loss)(state.params, state.apply_fn, lr, hr, loss_type)
  return state.apply_gradients(grads=grads), loss


def eval_step(params, apply_fn, lr: jax.Array, hr: jax.Array) -> jax.Array:
  """Mean squared error of a batch (model space, [0, 1])."""
  return jnp.mean((apply_fn({"params": params}, lr) - hr) ** 2)


def validate(params, pairs, config) -> dict[str, float]:
  """Mean PSNR/SSIM on validation pairs (Y or RGB as trained, 8-bit output, border = scale)."""
  psnrs, ssims = [], []
  for pair in pairs:
    sr = super_resolve(params, pair.lr, activation=config.model.activation,
                       centre=config.model.centre)
    sr = np.round(sr * 255) / 255
    psnrs.append(metrics.psnr(sr, pair.hr, border=config.scale))
    ssims.append(metrics.ssim(sr, pair.hr, border=config.scale))
  return {"val_psnr": float(np.mean(psnrs)), "val_ssim": float(np.mean(ssims))}


def _model_info(config) -> dict:
  return {"task": "espcn", "scale": config.scale, "channels": config.channels,
          "features": list(config.model.features), "kernel_sizes": list(config.model.kernel_sizes),
          "activation": config.model.activation, "centre": config.model.centre,
          "degradation": config.degradation}


def check_config(config) -> None:
  """Refuses config values training cannot use, before any work, with one clear message.

  Raises:
    ValueError: naming the field and the value it got.
  """
  def positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
      raise ValueError(f"config.{name} must be an integer >= {minimum}, got {value!r}")

  for name in ("batch_size", "num_steps", "log_every", "eval_every", "checkpoint_every",
               "keep_checkpoints"):
    positive_int(name, config[name])
  positive_int("scale", config.scale, 2)
  if config.channels not in (1, 3):
    raise ValueError(f"config.channels must be 1 (Y) or 3 (RGB), got {config.channels!r}")
  reach = max(config.model.kernel_sizes)
  if isinstance(config.patch_size, bool) or not isinstance(config.patch_size, int) or (
      config.patch_size < reach):
    raise ValueError(f"config.patch_size must be an integer >= the largest kernel size "
                     f"({reach}), got {config.patch_size!r}")
  lr = config.learning_rate
  # 0 is allowed: it freezes the params (e.g. to check a warm start).
  if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not np.isfinite(lr) or lr < 0:
    raise ValueError(f"config.learning_rate must be a finite number >= 0, got {lr!r}")
  if config.warmup_steps < 0:
    raise ValueError(f"config.warmup_steps must be >= 0, got {config.warmup_steps!r}")
  data.holdout_count(config.val_data)   # refuses a malformed "holdout:N"
  for spec in data.split_sources(config.get("extra_train_data", "")):
    data.parse_extra_source(spec)          # refuses a malformed "GLOB@F"
  known = (*data.DEGRADATIONS, *data.MIXED_DEGRADATIONS)
  if config.degradation not in known:
    raise ValueError(f"config.degradation must be one of {known}, got {config.degradation!r}")


def _check_workdir(workdir: pathlib.Path, config) -> None:
  info_path = workdir / checkpoint.MODEL_INFO
  if info_path.exists():
    old = checkpoint.read_model_info(workdir)
    new = _model_info(config)
    diff = {k: (old.get(k), v) for k, v in new.items() if old.get(k) != v}
    if diff:
      raise checkpoint.CheckpointError(
          f"{workdir} holds a different model ({', '.join(f'{k}: {a} -> {b}' for k, (a, b) in diff.items())}); "
          "use another --workdir")


def _shardings(config) -> tuple[NamedSharding, NamedSharding]:
  """``(replicated, batch)`` shardings over a 1-D ``data`` mesh of the devices used.

  With several processes (``jax.distributed``) the mesh spans every process's
  devices and ``config.num_devices`` must be 0 (all of them).
  """
  multihost.check_num_devices(config.num_devices)
  devices = jax.devices()[: config.num_devices] if config.num_devices else jax.devices()
  if config.batch_size % len(devices):
    raise ValueError(f"batch_size {config.batch_size} must be divisible by the "
                     f"{len(devices)} devices for data parallelism")
  mesh = Mesh(np.array(devices), ("data",))
  return NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))


def _load_data(config) -> tuple[data.PatchSampler, list[data.SRPair]]:
  """The training patch sampler and the validation pairs (``[]`` without ``val_data``).

  ``val_data = "holdout:N"`` validates on N images of the training pool that
  are then not trained on (:func:`espcn_jax.data.holdout_keys`).
  """
  holdout = data.holdout_count(config.val_data) or 0
  common = dict(degradation=config.degradation, holdout=holdout)
  train_pairs = data.load_pairs(config.train_data, config.scale, config.channels,
                                min_lr_size=config.patch_size,
                                scale_augment=tuple(config.get("scale_augment", (1.0,))), **common)
  if config.get("extra_train_data"):
    train_pairs += data.load_extra_pairs(
        config.extra_train_data, config.scale, config.channels, degradation=config.degradation,
        min_lr_size=config.patch_size, scale_augment=tuple(config.get("scale_augment", (1.0,))))
  val_source = config.train_data if holdout else config.val_data
  val_pairs = (data.load_pairs(val_source, config.scale, config.channels, min_lr_size=4,
                               part="holdout", **common)
               if config.val_data else [])
  sampler = data.PatchSampler(train_pairs, config.scale, config.patch_size, config.batch_size,
                              seed=config.seed)
  return sampler, val_pairs


def _initial_state(config) -> TrainState:
  """A fresh train state from ``config.seed``, warm-started from ``config.init_from`` if set."""
  state = create_train_state(config, jax.random.key(config.seed))
  if config.get("init_from"):
    state = state.replace(params=warm_start(state.params, *load_source_params(config.init_from),
                                            config))
  return state


def _jit_train_step(config, replicated: NamedSharding, batch: NamedSharding) -> Callable:
  """:func:`train_step` jitted data-parallel: ``(state, lr, hr) -> (state, loss)``, state donated."""
  return jax.jit(
      lambda s, lr, hr: train_step(s, lr, hr, loss_type=config.loss),
      in_shardings=(replicated, batch, batch),
      out_shardings=(replicated, replicated), donate_argnums=0)


class _Checkpoints:
  """A workdir's orbax checkpoints: ``ckpt/`` (latest train states) and ``best/`` (params).

  ``best/`` keeps the params with the best validation PSNR.
  """

  def __init__(self, workdir: pathlib.Path, keep: int):
    self.dir = workdir / "ckpt"
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True)
    self.latest = ocp.CheckpointManager(self.dir, options=options)
    # Its own barrier names: with several processes both managers save step s at once.
    self.best = ocp.CheckpointManager(
        workdir / "best", options=ocp.CheckpointManagerOptions(
            max_to_keep=1, best_fn=lambda m: m["val_psnr"], best_mode="max", create=True,
            multiprocessing_options=ocp.options.MultiprocessingOptions(
                barrier_sync_key_prefix="best")))

  def restore_latest(self, state: TrainState) -> tuple[TrainState, int | None]:
    """``(state, step)`` of the latest intact checkpoint; ``(state, None)`` when there is none.

    The checkpoint is restored onto ``state``'s shapes and shardings (an
    explicit target), so a run saved on any device count resumes on this one.
    A damaged checkpoint (truncated file, empty metadata) is skipped with a
    warning and moved to ``ckpt_damaged/`` once an older one restores.

    Raises:
      checkpoint.CheckpointError: checkpoints exist but none of them restores.
    """
    steps = sorted(self.latest.all_steps(), reverse=True)
    if not steps:
      return state, None
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
    damaged = []
    for step in steps:
      try:
        restored = self.latest.restore(step, args=ocp.args.StandardRestore(abstract))
      except Exception as e:   # orbax/tensorstore raise plain Exceptions for damaged files
        damaged.append(step)
        detail = str(e).split(" See full TensorStore")[0].splitlines()[:1]
        reason = f"{type(e).__name__}: {detail[0][:200] if detail else ''}"
        older = next((s for s in steps if s < step), None)
        warnings.warn(f"checkpoint step {step} in {self.dir} is damaged ({reason}); "
                      + (f"resuming from step {older}" if older is not None
                         else "no older checkpoint"), stacklevel=2)
        continue
      self._set_aside(damaged)
      return restored, int(restored.step)
    raise checkpoint.CheckpointError(
        f"no intact checkpoint in {self.dir} (damaged steps: "
        f"{', '.join(map(str, damaged))}); delete that folder to train from scratch")

  def _set_aside(self, steps: list[int]) -> None:
    """Moves damaged step folders to ``ckpt_damaged/`` so training can save those steps again."""
    if not steps:
      return
    if multihost.is_primary():
      aside = self.dir.parent / "ckpt_damaged"
      aside.mkdir(exist_ok=True)
      for step in steps:
        target = aside / str(step)
        n = 1
        while target.exists():
          target, n = aside / f"{step}.{n}", n + 1
        shutil.move(str(self.dir / str(step)), str(target))
    multihost.sync("espcn_ckpt_set_aside")
    self.latest.reload()

  def save(self, state: TrainState, step: int, val_metrics: dict | None = None) -> None:
    """The train state as the latest checkpoint; with ``val_metrics``, the params for best."""
    self.latest.save(step, args=ocp.args.StandardSave(state), force=True)
    if val_metrics is not None:
      self.best.save(step, args=ocp.args.StandardSave({"params": state.params}),
                     metrics=val_metrics, force=True)

  def save_interrupted(self, state: TrainState) -> int:
    """Save ``state`` unless its step is saved already; wait for it; return the step."""
    done = int(jax.device_get(state.step))
    if self.latest.latest_step() != done:
      self.latest.save(done, args=ocp.args.StandardSave(state), force=True)
    self.latest.wait_until_finished()
    return done

  def close(self) -> None:
    self.latest.wait_until_finished()
    self.best.wait_until_finished()
    self.latest.close()
    self.best.close()


@dataclasses.dataclass
class _Run:
  """The fixed pieces of one training run, shared by the loop and its logging."""
  config: ml_collections.ConfigDict
  sampler: data.PatchSampler
  val_pairs: list
  step_fn: Callable
  batch_sharding: NamedSharding
  schedule: optax.Schedule
  log: MetricsLog
  bar: Any
  ckpts: _Checkpoints
  rows: slice


def _due(done: int, config, validating: bool) -> tuple[bool, bool, bool]:
  """``(log, validate, save)`` after step ``done``: on their ``*_every`` steps and the last."""
  last = done == config.num_steps
  log_now = done % config.log_every == 0 or last
  eval_now = validating and (done % config.eval_every == 0 or last)
  save_now = eval_now or done % config.checkpoint_every == 0 or last
  return log_now, eval_now, save_now


def _fetch_losses(losses: list, done: int, ckpts: _Checkpoints) -> np.ndarray:
  """The losses since the last log as float64 ``[n]`` (a device sync); refuses NaN/inf."""
  values = np.asarray(jax.device_get(losses), np.float64)
  if not np.all(np.isfinite(values)):
    raise FloatingPointError(
        f"loss became {values[~np.isfinite(values)][0]} near step {done}; the last good "
        f"checkpoint is step {ckpts.latest.latest_step()} in {ckpts.dir}. Lower "
        "config.learning_rate or set config.grad_clip_norm, then re-run to resume.")
  return values


def _log_and_save(run: _Run, state: TrainState, done: int, values: np.ndarray, rate: float,
                  eval_now: bool, save_now: bool) -> dict[str, float]:
  """Log step ``done`` (validating and checkpointing when due).

  Returns:
    Its mean loss and, when validated, ``val_psnr`` and ``val_ssim``.
  """
  config = run.config
  record = {"step": done, "loss": float(values.mean()), "lr": float(run.schedule(done - 1)),
            "steps_per_sec": rate, "patches_per_sec": rate * config.batch_size}
  run.bar.set_postfix(loss=f"{record['loss']:.3g}", it_s=f"{rate:.1f}")
  result = {"loss": record["loss"]}
  val = None
  if eval_now:
    val = validate(jax.device_get(state.params), run.val_pairs, config)
    record.update(val)
    result.update(val)
    run.bar.write(f"step {done}: loss {record['loss']:.5f}  val PSNR {val['val_psnr']:.3f} dB  "
                  f"SSIM {val['val_ssim']:.4f}")
  run.log.write(record)
  if save_now:
    run.ckpts.save(state, done, val)
  return result


def _train_loop(run: _Run, state: TrainState, start: int,
                step_hook: Callable[[int], Any] | None) -> dict[str, float]:
  """Steps ``start`` .. ``num_steps``; on Ctrl-C saves the state and re-raises."""
  result: dict[str, float] = {}
  losses = []
  tick, tick_step = time.perf_counter(), start
  try:
    for step, (lr, hr) in run.sampler.iterate(start, run.config.num_steps, rows=run.rows):
      lr, hr = (multihost.global_array(run.batch_sharding, a, run.config.batch_size)
                for a in (lr, hr))
      state, loss = run.step_fn(state, lr, hr)
      losses.append(loss)
      done = step + 1
      run.bar.update(1)
      log_now, eval_now, save_now = _due(done, run.config, bool(run.val_pairs))
      if log_now or save_now:
        # Losses are fetched (a device sync) only here; they are checked before any save.
        values = _fetch_losses(losses, done, run.ckpts)
        losses = []
        now = time.perf_counter()
        rate = (done - tick_step) / max(now - tick, 1e-9)
        tick, tick_step = now, done
        result.update(_log_and_save(run, state, done, values, rate, eval_now, save_now))
      if step_hook is not None:
        step_hook(done)
  except KeyboardInterrupt:
    done = run.ckpts.save_interrupted(state)
    run.bar.close()
    if jax.process_index() == 0:
      print(f"Interrupted at step {done}; checkpoint saved. Re-run the same command to resume.")
    raise
  return result


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       *, step_hook: Callable[[int], Any] | None = None) -> dict[str, float]:
  """Train ESPCN as ``config`` says, checkpointing into ``workdir``.

  Args:
    config: see ``espcn_jax/configs/default.py``.
    workdir: checkpoints, ``model.json`` and ``metrics.jsonl`` go here; an
      existing workdir is resumed from its latest checkpoint.
    step_hook: called with the step number after every step (tests use it to
      simulate an interruption).

  Returns:
    The final metrics (last loss, validation PSNR/SSIM if validated).
  """
  check_config(config)
  workdir = pathlib.Path(workdir).resolve()
  check_writable_folder(workdir, "the workdir", create=True)
  _check_workdir(workdir, config)
  replicated, batch_sharding = _shardings(config)
  sampler, val_pairs = _load_data(config)
  primary = multihost.is_primary()   # only process 0 writes the log, model info and bar
  if primary:
    checkpoint.write_model_info(workdir, _model_info(config))   # only once the data is usable
  state = jax.device_put(jax.device_get(_initial_state(config)), replicated)

  ckpts = _Checkpoints(workdir, config.keep_checkpoints)
  state, resumed = ckpts.restore_latest(state)
  start = resumed or 0
  if resumed is not None and primary:
    print(f"Resuming from step {start} in {ckpts.dir}")
  log = MetricsLog(workdir / "metrics.jsonl", start) if primary else multihost.Quiet()
  bar = (tqdm(total=config.num_steps, initial=start, desc=f"ESPCN x{config.scale}",
              unit="step", dynamic_ncols=True, disable=not config.progress_bar)
         if primary else multihost.Quiet())
  run = _Run(config=config, sampler=sampler, val_pairs=val_pairs,
             step_fn=_jit_train_step(config, replicated, batch_sharding),
             batch_sharding=batch_sharding, schedule=learning_rate_schedule(config),
             log=log, bar=bar, ckpts=ckpts,
             rows=multihost.process_rows(batch_sharding, config.batch_size))
  try:
    return _train_loop(run, state, start, step_hook)
  finally:
    bar.close()
    ckpts.close()
