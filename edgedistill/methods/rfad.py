"""RFAD kernel coreset distillation (Loo et al. 2022), as the audio dataset-distillation paper uses it.

A coreset C of `ipc` synthetic feature maps per class is learned so that kernel ridge
regression with a random-feature NNGP kernel, fitted on C, predicts the labels of real batches:
Φ = concat of N random conv nets / sqrt(N·M) (`random_features`), ŷ_B = K_BC (K_CC + λI)⁻¹ y_C
(`krr`), loss MSE ‖y_B − ŷ_B‖² or Platt-scaled cross-entropy with a learned scale; Adam on the
coreset's values (and optionally its labels); nets re-drawn every `redraw_every` steps; real
batches sampled each step. The coreset is optimised in normalised feature space (per-band
train mean/std) and returned in raw feature space, same shape as the real features.

Every random choice (batch, nets) is a pure function of (seed, step), so a run resumed from a
checkpoint ends with exactly the coreset of an uninterrupted run. Imports torch: host only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgedistill.data.featureset import FeatureSet
from edgedistill.data.mapped import MappedRows
from edgedistill.methods.coreset import SCHEMA as CORESET_SCHEMA, Coreset
from edgedistill.artifacts import Meta
from edgedistill.progress import progress as Progress
from edgedistill.config import (DEVICE_HELP, NPROC_HELP, PRECISION_HELP, PRECISIONS, SEED_HELP, THREADS_HELP, Settings,
                                setting)

LOSSES = ("mse", "platt")
INITS = ("real", "kmeans", "noise")


@dataclass(frozen=True)
class RFADConfig(Settings):
    """Every RFAD setting (written into the coreset artifact).

    ipc: synthetic samples per class. steps: optimisation steps. lr: Adam learning rate on the
    normalised coreset values (units of a band's std). label_lr: Adam lr of learned labels.
    batch_size: real samples drawn per step (per-step cost does not grow with the dataset).
    n_nets / width / depth / n_features: the random conv nets (N nets, W channels, conv
    blocks, M head outputs). time_pool: average the nets' last block over time before the head
    (position-invariant kernel; see RandomFeatureConfig). redraw_every: steps between fresh
    draws of the nets.
    reg: ridge λ relative to mean(diag(K_CC)). loss: "mse" or "platt". learn_labels: optimise
    the coreset's regression targets too. init: "real" (random real samples of each class),
    "kmeans" (per class, the real samples nearest k-means centroids of the random features) or
    "noise" (standard normal in normalised space). eval_every: steps between validation scores
    (fixed nets); patience: evaluations without improvement before stopping (0 = never).
    checkpoint_every: steps between checkpoints. chunk: rows per feature pass (small is faster on
    CPU; coresets over 512 rows are also checkpointed per 512 rows so memory stays bounded).
    compile: run the random nets' torch ops through torch.compile (same loss to float rounding;
    needs Triton on CUDA, a C++ compiler on CPU; falls back to eager with a warning when
    compiling fails). For CUDA: on the CPU the default eager path, whose conv blocks run through
    the fused C kernel (`conv_relu_pool`), measured 1.5-1.8x faster per step than compiled
    (benchmarks/results/rfad_speed.md). precision: the random nets' convolutions in "fp32" or
    "bf16" autocast ("auto": bf16 on CUDA only); Φ's head and the KRR solves are float32 / float64
    either way (the loss stays within 2e-2 relative of fp32: tests/methods/test_precision.py).
    device: "auto", "cpu", "cuda". threads: torch CPU threads (None = leave as is). nproc: ranks the
    CLI starts under torchrun (the library itself follows whatever process group it runs in). seed.
    """

    ipc: int = setting(10, "Synthetic samples per class (the budget).")
    steps: int = setting(500, "Optimisation steps.")
    lr: float = setting(0.01, "Adam learning rate on the coreset (normalised units).")
    label_lr: float = setting(0.01, "Adam lr of learned labels and the Platt scale.")
    batch_size: int = setting(128, "Real samples per step.")
    n_nets: int = setting(7, "Random conv nets N in the kernel.")
    width: int = setting(16, "Conv channels per random net.")
    depth: int = setting(3, "Conv blocks per random net.")
    n_features: int = setting(128, "Random head outputs M per net.")
    time_pool: bool = setting(True, "Average the nets' last block over time (a kernel invariant to where the sound sits "
                                    "in the clip; measured better on keywords); --no-time-pool flattens, as the paper.")
    redraw_every: int = setting(1, "Steps between fresh random nets.")
    reg: float = setting(1e-4, "KRR ridge, relative to mean(diag K_CC).")
    loss: str = setting("mse", "mse or platt (cross-entropy with a learned scale).")
    learn_labels: bool = setting(False, "Also learn the coreset's soft labels.")
    init: str = setting("kmeans", "kmeans (per class, the real clips nearest k-means centroids in random-feature space), "
                                  "real (random real clips per class) or noise.")
    eval_every: int = setting(50, "Steps between validation scores (needs a valid split).", result=False)
    patience: int = setting(0, "Validation scores without improvement before stopping (0 = never).")
    checkpoint_every: int = setting(50, "Steps between checkpoints (a run shorter than this still checkpoints halfway).",
                                    result=False)
    chunk: int = setting(16, "Rows per random-feature pass (memory / speed trade-off; same result).", result=False)
    compile: bool = setting(False, "Run the random nets' torch ops through torch.compile (for CUDA; on the CPU the fused "
                                   "C kernel is faster). Same results to float rounding.", result=False)
    precision: str = setting("auto", PRECISION_HELP)
    device: str = setting("auto", DEVICE_HELP, result=False)
    threads: int | None = setting(None, THREADS_HELP, result=False)
    nproc: int = setting(1, NPROC_HELP, result=False)
    seed: int = setting(0, SEED_HELP)

    def __post_init__(self) -> None:
        positive = ("ipc", "steps", "batch_size", "n_nets", "width", "depth", "n_features", "redraw_every",
                    "eval_every", "checkpoint_every", "chunk", "nproc")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"RFAD {name} must be a positive integer, got {value!r}")
        for name in ("lr", "label_lr", "reg"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"RFAD {name} must be > 0, got {getattr(self, name)!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"RFAD loss {self.loss!r} unknown; choose one of {', '.join(LOSSES)}")
        if self.init not in INITS:
            raise ValueError(f"RFAD init {self.init!r} unknown; choose one of {', '.join(INITS)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"RFAD precision {self.precision!r} unknown; choose one of {', '.join(PRECISIONS)}")
        if not isinstance(self.compile, bool):
            raise ValueError(f"RFAD compile must be true or false, got {self.compile!r}")
        if self.patience < 0:
            raise ValueError(f"RFAD patience must be >= 0, got {self.patience}")

    def nets(self, input_shape: tuple[int, int], seed: int, mean: np.ndarray, std: np.ndarray, device):
        """The config's random nets drawn with `seed` (compiled when `compile`)."""
        from edgedistill.methods.random_features import random_feature_nets

        return random_feature_nets(input_shape, self.random_features(), seed, mean, std, device,
                                   compile_rows=self.chunk if self.compile else None,
                                   precision=self.nets_precision(device))

    def nets_precision(self, device) -> str:
        """The random nets' precision on `device`: `precision`, with auto = bf16 on CUDA, fp32 elsewhere."""
        from edgedistill.runtime import resolve_precision

        return resolve_precision(self.precision, device)

    def random_features(self):
        from edgedistill.methods.random_features import RandomFeatureConfig

        return RandomFeatureConfig(n_nets=self.n_nets, width=self.width, depth=self.depth, n_features=self.n_features,
                                   time_pool=self.time_pool)


def step_seed(seed: int, stream: int, index: int) -> int:
    """A 63-bit seed that depends only on (seed, stream, index): batches and net draws per step."""
    return int(np.random.SeedSequence([int(seed), int(stream), int(index)]).generate_state(1, dtype=np.uint64)[0] >> 1)


def check_input(train: FeatureSet, config: RFADConfig) -> None:
    """Clear errors for inputs RFAD cannot distil (too few classes or samples, NaN features)."""
    counts = train.class_counts()
    present = int((counts > 0).sum())
    if present < 2:
        raise ValueError(f"RFAD needs at least 2 classes with samples; the training set has {present}")
    if counts.min() == 0:
        raise ValueError(f"class {train.labels[int(counts.argmin())]!r} has no training samples")
    if config.init != "noise" and config.ipc > counts.min():
        small = train.labels[int(counts.argmin())]
        raise ValueError(f"--ipc {config.ipc} exceeds the smallest class ({small!r}: {counts.min()} samples) with "
                         "real initialisation; lower --ipc or use --init noise")
    if isinstance(train.x, MappedRows):
        return  # rows read from a feature cache: FeatureSet.load scanned them for NaN already (naming the file)
    for start in range(0, len(train), 256):  # 256 clips at a time: memory does not grow with the set
        if not np.isfinite(np.asarray(train.x[start:start + 256])).all():
            raise ValueError("training features contain NaN or infinite values; re-extract or drop those clips")


def initial_coreset(train: FeatureSet, config: RFADConfig, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised initial coreset z (M, F, T) float32 and its class ids y (M,), class-major order.

    init "real": random real clips of each class; "kmeans": per class, the real clips nearest
    the centroids of k-means (k = ipc) on the class's random features (one fixed draw of the
    config's nets), i.e. representative clips rather than random ones; "noise": N(0, 1).
    """
    rng = np.random.default_rng(step_seed(config.seed, 0, 0))
    ys = np.repeat(np.arange(train.n_classes), config.ipc)
    if config.init == "noise":
        return rng.standard_normal((len(ys), *train.config.shape)).astype(np.float32), ys
    if config.init == "kmeans":
        index = np.concatenate([np.sort(members[medoids]) for members, medoids in _kmeans_picks(train, config, mean, std)])
    else:
        index = np.concatenate([np.sort(rng.choice(np.flatnonzero(train.y == c), config.ipc, replace=False))
                                for c in range(train.n_classes)])
    z = (np.asarray(train.x[index], dtype=np.float64) - mean[:, None]) / std[:, None]
    return z.astype(np.float32), ys


def _kmeans_picks(train: FeatureSet, config: RFADConfig, mean: np.ndarray, std: np.ndarray):
    """Per class: (indices of the class's clips, positions of the k-means medoids among them)."""
    from edgedistill import distributed
    from edgedistill.methods.kmeans import kmeans_medoids

    device = distributed.setup(config.device)
    nets = config.nets(train.config.shape, step_seed(config.seed, 4, 0), mean, std, device)
    for c in range(train.n_classes):
        members = np.flatnonzero(train.y == c)
        phi = features_of_rows(nets, train.x, members, config.chunk, device).cpu().numpy()
        yield members, kmeans_medoids(phi, config.ipc, step_seed(config.seed, 5, c))


def features_of_rows(nets, x, rows: np.ndarray, chunk: int, device, block: int = 1024):
    """Φ of x[rows] (no gradient), read `block` rows at a time: a memory-mapped cache is never
    loaded whole (only the (len(rows), D) features are held)."""
    import torch

    from edgedistill.methods.krr import chunked_features

    with torch.no_grad():
        return torch.cat([chunked_features(nets, torch.as_tensor(np.asarray(x[rows[i:i + block]], dtype=np.float32),
                                                                 device=device), chunk)
                          for i in range(0, len(rows), block)])


def step_loss(nets, xb, yb, z, targets, log_scale, config: RFADConfig, global_batch: int | None = None):
    """One RFAD objective: KRR fitted on the coreset z (normalised, (M, F, T)) with its targets
    (M, C), predicting the real batch xb (raw, (B, F, T)) with labels yb (B,). `nets` maps raw
    features (``nets(x)``) and normalised ones (``nets.from_normalized(z)``) to Φ. Returns the
    scalar loss (MSE against one-hot − 1/C targets, or Platt-scaled cross-entropy), averaged over
    the batch; with `global_batch` (data-parallel: xb is one rank's share of a batch that size)
    the sum over xb's rows divided by `global_batch`, so the ranks' losses add up to the batch mean."""
    import torch

    from edgedistill.methods.krr import chunked_features, krr_predict, mse_loss, platt_loss, regression_targets

    with torch.no_grad():
        phi_b = chunked_features(nets, xb, config.chunk)
    phi_c = chunked_features(nets.from_normalized, z, config.chunk)
    pred = krr_predict(phi_b, phi_c, targets, config.reg)
    share = 1.0 if global_batch is None else len(xb) / global_batch
    if config.loss == "mse":
        return mse_loss(pred, regression_targets(yb.cpu(), targets.shape[1]).to(pred.device)) * share
    return platt_loss(pred, yb, log_scale) * share


def distill(train: FeatureSet, config: RFADConfig, *, progress: bool = True, valid: FeatureSet | None = None,
            checkpoint: str | Path | None = None) -> Coreset:
    """Learn `config.ipc` synthetic feature maps per class from `train` (see the module docstring).

    valid: scored at the start and every `eval_every` steps by KRR on fixed random nets; the best
    coreset (the starting one included) is kept (and `patience` stops early). checkpoint: a `.npz` path written every `checkpoint_every`
    steps; if it exists, the run resumes from it (same config required). Returns the Coreset in
    raw feature space with `y_soft` = learned regression targets when `learn_labels`, and a
    `meta` holding the method config, normalisation and history for `save_coreset`.
    """
    import torch

    from edgedistill.methods.krr import chunked_features, krr_predict, regression_targets
    from edgedistill import distributed
    from edgedistill.methods.random_features import band_stats

    check_input(train, config)
    if valid is not None and list(valid.labels) != list(train.labels):
        raise ValueError("validation set classes differ from the training set's classes")
    if config.threads:
        torch.set_num_threads(config.threads)
    device = distributed.setup(config.device)
    world, main = distributed.world_size(), distributed.is_main()
    if min(config.batch_size, len(train)) < world:
        raise ValueError(f"RFAD batch_size {config.batch_size} is smaller than the {world} processes; "
                         "each process needs at least one real sample per step")
    progress = progress and main
    mean, std = band_stats(train.x)
    rf = config.random_features()
    shape = train.config.shape
    n_classes = train.n_classes

    z0, ys = initial_coreset(train, config, mean, std)
    z = torch.tensor(z0, device=device, requires_grad=True)
    targets = regression_targets(ys, n_classes).to(device).requires_grad_(config.learn_labels)
    log_scale = torch.tensor(np.log(10.0), dtype=torch.float64, device=device, requires_grad=config.loss == "platt")
    groups = [{"params": [z], "lr": config.lr}]
    if config.learn_labels:
        groups.append({"params": [targets], "lr": config.label_lr})
    if config.loss == "platt":
        groups.append({"params": [log_scale], "lr": config.label_lr})
    optimizer = torch.optim.Adam(groups)

    state = {"step": 0, "best_accuracy": -1.0, "best_step": -1, "stale": 0, "history": []}
    best = {"z": z0.copy(), "targets": targets.detach().cpu().numpy().copy()}
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.exists():
        state, best = _load_checkpoint(ckpt, config, z, targets, log_scale, optimizer)
    distributed.barrier()  # every rank has read the checkpoint before rank 0 replaces it

    valid_phi = valid_nets = None
    if valid is not None and len(valid):
        valid_nets = config.nets(shape, step_seed(config.seed, 3, 0), mean, std, device)
        valid_phi = features_of_rows(valid_nets, valid.x, np.arange(len(valid)), config.chunk, device).double()

    def validate() -> float:
        with torch.no_grad():
            phi_c = chunked_features(valid_nets.from_normalized, z, config.chunk)
            pred = krr_predict(valid_phi, phi_c, targets, config.reg)
        return float((pred.argmax(1).cpu().numpy() == valid.y).mean())

    if valid_phi is not None and state["step"] == 0:
        # the starting coreset is a candidate too: a run that never beats it keeps it
        state.update(best_accuracy=validate(), best_step=0)
        state["history"].append({"step": 0, "valid_accuracy": state["best_accuracy"]})
    n_train = len(train)
    bar = Progress(config.steps, "rfad", start=state["step"], enabled=progress).__enter__()
    checkpoint_every = min(config.checkpoint_every, max(1, config.steps // 2))
    nets = None
    stopped_early = False
    while state["step"] < config.steps:
        step = state["step"]
        if nets is None or step % config.redraw_every == 0:
            nets = config.nets(shape, step_seed(config.seed, 1, step // config.redraw_every), mean, std, device)
        rng = np.random.default_rng(step_seed(config.seed, 2, step))
        index = np.sort(rng.choice(n_train, min(config.batch_size, n_train), replace=False))
        mine = distributed.shard(index)
        xb = torch.as_tensor(np.asarray(train.x[mine], dtype=np.float32), device=device)
        yb = torch.as_tensor(train.y[mine], device=device)
        loss = step_loss(nets, xb, yb, z, targets, log_scale, config, global_batch=len(index))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        loss = loss.detach().clone()
        distributed.all_reduce_([z.grad, targets.grad, log_scale.grad, loss])
        optimizer.step()
        state["step"] = step = step + 1
        record = {"step": step, "loss": float(loss)}
        if valid_phi is not None and (step % config.eval_every == 0 or step == config.steps):
            accuracy = validate()
            record["valid_accuracy"] = accuracy
            if accuracy > state["best_accuracy"]:
                state.update(best_accuracy=accuracy, best_step=step, stale=0)
                best = {"z": z.detach().cpu().numpy().copy(), "targets": targets.detach().cpu().numpy().copy()}
            else:
                state["stale"] += 1
            stopped_early = bool(config.patience and state["stale"] >= config.patience)
        state["history"].append(record)
        bar.update(step, loss=record["loss"], **({"valid": state["best_accuracy"]} if state["best_accuracy"] >= 0 else {}))
        if main and ckpt is not None and (step % checkpoint_every == 0 or stopped_early):
            _save_checkpoint(ckpt, config, state, best, z, targets, log_scale, optimizer)
        if stopped_early:
            break
    bar.__exit__(None, None, None)

    if valid_phi is None:
        best = {"z": z.detach().cpu().numpy(), "targets": targets.detach().cpu().numpy()}
    x = (best["z"].astype(np.float64) * std[:, None] + mean[:, None]).astype(np.float32)
    metrics = {"steps_run": state["step"], "final_loss": state["history"][-1]["loss"] if state["history"] else None}
    if valid_phi is not None:
        metrics.update(valid_krr_accuracy=state["best_accuracy"], best_step=state["best_step"], stopped_early=stopped_early)
    metrics["world_size"] = world
    meta = Meta(schema=CORESET_SCHEMA, feature_config=train.config.to_dict(), feature_id=train.feature_id,
                labels=list(train.labels), method={"name": "rfad", "config": config.replace(nproc=world).to_dict()}, seed=config.seed,
                source_manifest_hash=train.manifest_hash(), metrics=metrics,
                extra={"rf_norm": {"mean": mean.tolist(), "std": std.tolist()},
                       "random_features": rf.to_dict(), "history": state["history"]})
    return Coreset(x=x, y=ys.astype(np.int64), labels=list(train.labels), config=train.config,
                   y_soft=best["targets"].astype(np.float32) if config.learn_labels else None, meta=meta)


# Checkpoints: one .npz (arrays + a JSON string), replaced atomically ---------------------------
def _save_checkpoint(path: Path, config: RFADConfig, state: dict, best: dict, z, targets, log_scale, optimizer) -> None:
    arrays = {"z": z.detach().cpu().numpy(), "targets": targets.detach().cpu().numpy(),
              "log_scale": log_scale.detach().cpu().numpy(), "best_z": best["z"], "best_targets": best["targets"]}
    opt_state = optimizer.state_dict()
    for pid, values in opt_state["state"].items():
        for name, value in values.items():
            arrays[f"adam.{pid}.{name}"] = value.detach().cpu().numpy()
    info = {"config": config.to_dict(), "state": state}
    arrays["info"] = np.array(json.dumps(info))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, config: RFADConfig, z, targets, log_scale, optimizer) -> tuple[dict, dict]:
    import torch

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        info = json.loads(str(arrays.pop("info")))
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"checkpoint {path} is unreadable ({err}); delete it to start over") from None
    config.check_resume(info["config"], f"checkpoint {path}", also_free=("steps",))
    if arrays["z"].shape != tuple(z.shape):
        raise ValueError(f"checkpoint {path}: coreset shape {arrays['z'].shape} differs from {tuple(z.shape)}")
    with torch.no_grad():
        z.copy_(torch.as_tensor(arrays["z"]))
        targets.copy_(torch.as_tensor(arrays["targets"]))
        log_scale.copy_(torch.as_tensor(arrays["log_scale"]))
    opt_state = optimizer.state_dict()
    for key, value in arrays.items():
        if key.startswith("adam."):
            _, pid, name = key.split(".")
            opt_state["state"].setdefault(int(pid), {})[name] = torch.as_tensor(value)
    optimizer.load_state_dict(opt_state)
    return info["state"], {"z": arrays["best_z"], "targets": arrays["best_targets"]}
