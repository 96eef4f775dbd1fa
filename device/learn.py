"""On-device personalisation: add the user's words (or voice) to a device model without forgetting.

`learn(model, new, out, replay=...)` takes
  model:  a device model (schema ``edgedistill.device-model``, mode krr / head / full);
  new:    a folder of the user's recordings, one sub-folder of WAV files per class: a new class
          (3-10 clips) or more examples of existing ones (speaker adaptation);
  replay: what stands in for the old training data: a coreset directory, a samples .npz, a
          generator export (sampled here, `replay_ppc` per class), a feature set (random real clips,
          `replay_ppc` per class), or None (new clips only: the forgetting baseline).
and writes a new device model with the union of the classes (old classes first, in their order),
atomically, to `out`; the old model is never touched.

Per mode:
  krr:  closed form, the new clips are rows added to the replay rows, each new class's clips repeated
        to `new_weight` (default 2) times the replay's mean class size; K is refitted over the union
        with the model's random-feature nets. Every mode starts from the old model's training
        settings (explicit options override them), except that adding a class lets krr choose its
        ridge on the device (`choose_ridge`): at the old model's 1e-4 the fit interpolates every row
        and the new word barely generalises to other voices, while a larger ridge can wipe out the
        old classes of a coreset distilled for that 1e-4 (the quickstart's: 84 % -> 22 % at 0.1).
        The rule: the largest of the model's ridge x 10^k (up to 0.1) whose leave-one-out accuracy
        on the replay rows stays within RIDGE_LOO_TOLERANCE of the model's ridge's. `--reg` fixes it.
        No replay = a fit on the new clips alone.
  head: the trained head is the starting point (a new class gets a fresh, small output column;
        standardisation kept) and is trained with Adam on replay + new clips, the new clips
        repeated to `new_weight` (default 1) times the replay's mean class size. When a class is
        added, only its output column learns by default (`freeze_old`): the old classes' logits
        cannot drift, and the replay clips are the new column's negatives. Without a new class
        (speaker adaptation) the whole head is fine-tuned.
  full: the same warm start (whole network, old per-band normalisation kept) through a train-step
        graph built on the host for the new label set (`edgedistill device build-step --labels
        old...,new`), passed as `step`; replay + new clips balanced as in head.

Why the new class is not kept off the old classes' clips better: see the notes of
benchmarks/results/device_learn.md (the trunks trained without the word do not separate it).

numpy + onnxruntime / LiteRT only: must not import torch or the host package.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgedistill.device import full, head, krr
from edgedistill.device.artifacts import check_output, ArtifactError, read_meta
from edgedistill.device.devmodel import load_graph, load_params, save_device_model
from edgedistill.device.metrics import classification_metrics
from edgedistill.device.predictor import DEVICE_SCHEMA, Predictor, feature_config_of, load_predictor
from edgedistill.device.runtime import load_session
from edgedistill.device.sample import sample as sample_generator
from edgedistill.device.train import make_config
from edgedistill.device.trainset import Labelled, load_labelled

NEW_WEIGHT = {"krr": 2.0, "head": 1.0, "full": 1.0}  # a new class's clips weigh like this many replay classes
RIDGE_MAX, RIDGE_LOO_TOLERANCE = 0.1, 0.03  # krr's ridge choice when a class is added (see module doc)


def load_replay(replay: str | Path | None, labels: list[str], config, ppc: int | None, seed: int,
                backend: str | None, threads: int | None, split: str | None = "train") -> Labelled | None:
    """The replay set aligned to the old model's labels: coreset / samples / feature set (`split`) / generator export."""
    if replay is None:
        return None
    replay = Path(replay)
    if replay.is_dir() and (replay / "meta.json").is_file() and read_meta(replay).schema == "edgedistill.export":
        x, y, gen_labels, gen_config = sample_generator(replay, ppc or 10, seed=seed, backend=backend, threads=threads)
        data = Labelled(x, y, gen_labels, gen_config, str(replay))
        if gen_config.feature_id != config.feature_id:
            raise ArtifactError(f"{replay}: the generator's features {gen_config.feature_id} differ from the model's {config.feature_id}")
    else:
        is_featureset = replay.is_dir() and (replay / "meta.json").is_file() and read_meta(replay).schema == "edgedistill.features"
        data = load_labelled(replay, config, split if is_featureset else None)
        if ppc is not None:
            data = per_class_subset(data, ppc, seed)
    missing = sorted(set(data.labels) - set(labels))
    if missing:
        raise ValueError(f"{replay}: replay classes {missing} are not among the model's classes {labels}; use the model's own coreset")
    return data.aligned_to(labels) if data.y_soft is None or data.labels == labels else data


def per_class_subset(data: Labelled, ppc: int, seed: int) -> Labelled:
    """At most `ppc` seeded random examples of each class."""
    rng = np.random.default_rng(seed)
    pick = np.sort(np.concatenate([rng.permutation(np.flatnonzero(data.y == c))[:ppc] for c in range(len(data.labels))]))
    soft = data.y_soft[pick] if data.y_soft is not None else None
    return Labelled(data.x[pick], data.y[pick], data.labels, data.config, data.source, soft)


def learn(model: str | Path, new: str | Path, out: str | Path, *, replay: str | Path | None = None, replay_ppc: int | None = None,
          step: str | Path | None = None, options: dict[str, Any] | None = None, freeze_old: bool = True,
          new_weight: float | None = None, eval_data: str | Path | None = None,
          eval_split: str | None = None, backend: str | None = None, threads: int | None = 1,
          log: Callable[[str], None] | None = None) -> tuple[Path, dict[str, Any]]:
    """Personalise a device model (see module doc). Returns (new model path, summary)."""
    log = log or (lambda _msg: None)
    model = Path(model)
    check_output(out)  # before any work: the old model stays, a user's folder is never touched
    meta = read_meta(model, schema=DEVICE_SCHEMA)
    mode = meta.extra.get("mode")
    if mode not in ("krr", "head", "full"):
        raise ArtifactError(f"{model}: unknown device-model mode {mode!r}")
    new_weight = NEW_WEIGHT[mode] if new_weight is None else float(new_weight)
    if not new_weight > 0:
        raise ValueError(f"learn: new_weight must be > 0, got {new_weight}")
    features = feature_config_of(meta, model)
    old_labels = list(meta.labels)
    t0 = time.perf_counter()
    user = load_labelled(new, features)
    labels = old_labels + [name for name in user.labels if name not in old_labels]
    user = user.aligned_to(labels)
    adds_class = len(labels) > len(old_labels)
    freezes = freeze_old and adds_class and mode == "head"
    stored = {k: v for k, v in meta.method.items() if k != "name"}  # the old model's settings are the defaults
    options = {k: v for k, v in (options or {}).items() if v is not None}
    chooses_ridge = mode == "krr" and adds_class and "reg" not in options
    options = {**stored, **options}
    seed = int(options.get("seed", 0) or 0)
    config = make_config(mode, options)
    old_replay = load_replay(replay, old_labels, features, replay_ppc, seed, backend, threads)
    load_seconds = time.perf_counter() - t0
    log(f"learn {mode}: {len(user.y)} new clips ({', '.join(user.labels[c] for c in np.unique(user.y))}), "
        f"replay {0 if old_replay is None else len(old_replay.y)} from {replay or 'nothing'}")

    n_classes = len(labels)
    replay_x = old_replay.x if old_replay is not None else np.zeros((0, *features.shape), np.float32)
    replay_y = old_replay.y if old_replay is not None else np.zeros(0, np.int64)
    graph_dir_files = meta.extra.get("graphs", {})
    start = time.perf_counter()
    if mode == "krr":
        session = load_graph(model, meta, "features", backend, threads)
        x, y = _balanced(replay_x, replay_y, user.x, user.y, new_weight)
        targets = krr.regression_targets(y, n_classes)
        if old_replay is not None and old_replay.y_soft is not None:
            targets[: len(replay_y)] = _widen_soft(old_replay.y_soft, n_classes)
        eig = krr.KernelEig.of(krr.features_of(session, x, config.batch_size))
        ridges: dict[str, float] = {}
        if chooses_ridge and len(replay_y):
            reg, ridges = choose_ridge(eig, targets, y, len(replay_y), config.reg)
            config = make_config(mode, {**options, "reg": reg})
            log(f"learn krr: ridge {reg:g} (leave-one-out accuracy on the replay rows by ridge: "
                + ", ".join(f"{k} {v:.2f}" for k, v in ridges.items()) + ")")
        w, loo = krr.solve(eig, targets, config.reg)
        params = {"w": w, "scale": np.array(krr.platt_scale(loo, y))}
        logits_fn = krr.krr_logits(session, params)
        graphs = {"features": model / graph_dir_files["features"]}
        history: list[float] = []
    elif mode == "head":
        session = load_graph(model, meta, "backbone", backend, threads)
        x, y = _balanced(replay_x, replay_y, user.x, user.y, new_weight)
        init = _widen_head(load_params(model), n_classes, seed)
        trainable = None
        if freezes:  # only the new classes' output weights move: old logits stay as they were
            trainable = {k: np.zeros_like(v) for k, v in init.items() if k not in ("mean", "std")}
            trainable["w"][:, len(old_labels):] = 1.0
            trainable["b"][len(old_labels):] = 1.0
        params, history = head.train_head(head.embed(session, x), y, n_classes, config, init=init, trainable=trainable)
        logits_fn = head.head_logits_fn(session, params)
        graphs = {"backbone": model / graph_dir_files["backbone"]}
    else:
        if step is None:
            raise ValueError("learn full: pass --step, a train-step export built on the host for the new label set "
                             f"(`edgedistill device build-step --labels {','.join(labels)} ...`)")
        step_dir = Path(step)
        step_meta = read_meta(step_dir, schema="edgedistill.export", features=features)
        if list(step_meta.labels) != labels:
            raise ValueError(f"{step_dir}: the train-step graph is for classes {list(step_meta.labels)}, the new model needs {labels}")
        session = load_session(step_dir / "train_step.onnx", backend, threads)
        old_params = load_params(model)
        init = _widen_full(old_params["params"], meta.method, step_meta.extra.get("param_shapes"), len(old_labels), n_classes, seed)
        x, y = _balanced(replay_x, replay_y, user.x, user.y, new_weight)
        targets = np.eye(n_classes, dtype=np.float32)[y]
        # the old model's input normalisation stays: its weights were learned on it
        params, history = full.train_full(session, init, x, targets, config, stats=(old_params["mean"], old_params["std"]))
        logits_fn = full.forward_logits(load_session(step_dir / "forward.onnx", backend, threads), params)
        graphs = {"forward": step_dir / "forward.onnx"}
    train_seconds = time.perf_counter() - start
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    predictor = Predictor(labels, features, logits_fn, meta, model)
    metrics: dict[str, Any] = {"train_seconds": train_seconds, "load_seconds": load_seconds}
    new_classes = [name for name in labels if name not in old_labels]
    if eval_data is not None:
        old = load_predictor(model, backend, threads)
        metrics.update(score_old_new(old, predictor, eval_data, eval_split, new_classes))
    path = save_device_model(out, mode, labels, features, graphs, params, method=config.to_dict(), metrics=metrics,
                             seed=getattr(config, "seed", None),
                             extra={"learned_from": str(model), "new_data": str(new), "replay": str(replay) if replay else None,
                                    "new_classes": new_classes, "n_replay": int(len(replay_y)), "n_new": int(len(user.y)),
                                    "history": history, **({"detector": meta.extra["detector"]} if "detector" in meta.extra else {})})
    summary = {"mode": mode, "out": str(path), "labels": labels, "new_classes": new_classes, "n_new": int(len(user.y)),
               "n_replay": int(len(replay_y)), "replay": str(replay) if replay else None, "backend": session.backend,
               "new_weight": new_weight, **({"freeze_old": freeze_old} if mode == "head" else {}),
               **({"reg": config.reg, "ridge_loo": ridges} if mode == "krr" else {}),
               "peak_rss_mb": round(peak_rss_mb, 1), **metrics}
    return path, summary


def choose_ridge(eig: krr.KernelEig, targets: np.ndarray, y: np.ndarray, n_replay: int, base: float) -> tuple[float, dict[str, float]]:
    """The largest ridge base x 10^k (k >= 0, at most RIDGE_MAX) whose leave-one-out accuracy on the
    first `n_replay` rows (the replay: old classes) stays within RIDGE_LOO_TOLERANCE of base's.

    Returns (ridge, {ridge: replay LOO accuracy}). Needs no held-out data: KRR's leave-one-out
    predictions come with the closed-form fit."""
    candidates = [base]
    while candidates[-1] * 10 <= RIDGE_MAX * (1 + 1e-9):
        candidates.append(candidates[-1] * 10)
    scores: dict[str, float] = {}
    for reg in candidates:
        _, loo = krr.solve(eig, targets, reg)
        scores[f"{reg:g}"] = float(np.mean(loo[:n_replay].argmax(1) == y[:n_replay]))
    floor = scores[f"{base:g}"] - RIDGE_LOO_TOLERANCE
    chosen = max(reg for reg in candidates if scores[f"{reg:g}"] >= floor)
    return chosen, scores


def score_old_new(old: Predictor, new: Predictor, eval_data: str | Path, split: str | None, new_classes: list[str]) -> dict[str, Any]:
    """Accuracy of the old and new model on held-out data: on the old classes, on the new classes, overall."""
    data = load_labelled(eval_data, new.feature_config, split)
    unknown = sorted(set(data.labels) - set(new.labels))
    if unknown:
        raise ValueError(f"{eval_data}: evaluation classes {unknown} are not among the model's classes {new.labels}")
    data = data.aligned_to(new.labels)
    is_new = np.isin(data.y, [new.labels.index(c) for c in new_classes])
    pred = new.logits(data.x).argmax(axis=1)
    result = {"accuracy": classification_metrics(data.y, pred, len(new.labels))["accuracy"],
              "old_class_accuracy_after": float(np.mean(pred[~is_new] == data.y[~is_new])) if (~is_new).any() else None,
              "new_class_accuracy": float(np.mean(pred[is_new] == data.y[is_new])) if is_new.any() else None,
              "n_eval_old": int((~is_new).sum()), "n_eval_new": int(is_new.sum())}
    if (~is_new).any():
        before = old.logits(data.x[~is_new]).argmax(axis=1)
        result["old_class_accuracy_before"] = float(np.mean(before == data.y[~is_new]))
        result["old_class_drop_points"] = 100 * (result["old_class_accuracy_before"] - result["old_class_accuracy_after"])
    return result


def _balanced(replay_x: np.ndarray, replay_y: np.ndarray, new_x: np.ndarray, new_y: np.ndarray,
              weight: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Replay (first) + new clips, each new class's clips repeated to about `weight` x the replay's mean class size."""
    if len(replay_y) == 0:
        return new_x, new_y
    target = int(np.ceil(weight * len(replay_y) / len(np.unique(replay_y))))
    xs, ys = [replay_x], [replay_y]
    for c in np.unique(new_y):
        idx = np.flatnonzero(new_y == c)
        reps = np.resize(idx, max(target, len(idx)))
        xs.append(new_x[reps])
        ys.append(new_y[reps])
    return np.concatenate(xs), np.concatenate(ys)


def _widen_soft(y_soft: np.ndarray, n_classes: int) -> np.ndarray:
    """Learned labels (M, C_old) padded to n_classes with each row's lowest value (the 'not this class' level)."""
    y_soft = np.asarray(y_soft, dtype=np.float64)
    if y_soft.shape[1] == n_classes:
        return y_soft
    fill = np.repeat(y_soft.min(axis=1, keepdims=True), n_classes - y_soft.shape[1], axis=1)
    return np.concatenate([y_soft, fill], axis=1)


def _widen_head(params: dict[str, np.ndarray], n_classes: int, seed: int) -> dict[str, np.ndarray]:
    """The trained head with new output columns: small random weights, bias at the old biases' mean."""
    params = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    extra = n_classes - params["w"].shape[1]
    if extra > 0:
        rng = np.random.default_rng(seed)
        scale = float(params["w"].std()) or 1.0
        params["w"] = np.concatenate([params["w"], 0.1 * scale * rng.standard_normal((params["w"].shape[0], extra))], axis=1)
        params["b"] = np.concatenate([params["b"], np.full(extra, params["b"].mean())])
    return params


def _widen_full(flat: np.ndarray, method: dict[str, Any], shapes: dict[str, Any] | None, n_old: int, n_classes: int,
                seed: int) -> np.ndarray:
    """Old flat params of the tcnn with rows for the new classes in the classifier (w3, b3), in PARAMS order."""
    if not shapes:
        raise ArtifactError("the train-step export lists no param_shapes; re-export it with `edgedistill device build-step`")
    names = list(shapes)
    new_shapes = {k: tuple(v) for k, v in shapes.items()}
    old_shapes = dict(new_shapes)
    old_shapes["w3"] = (n_old, new_shapes["w3"][1])
    old_shapes["b3"] = (n_old,)
    sizes = [int(np.prod(old_shapes[k])) for k in names]
    if sum(sizes) != flat.size:
        raise ArtifactError(f"the device model's {flat.size} parameters do not fit the train-step graph's layout "
                            f"({sum(sizes)} expected for {n_old} classes); build the step with the same --hidden1/--hidden2/--kernel")
    parts = dict(zip(names, np.split(np.asarray(flat, dtype=np.float32), np.cumsum(sizes)[:-1])))
    rng = np.random.default_rng(seed)
    out = []
    for k in names:
        value = parts[k].reshape(old_shapes[k])
        if k == "w3" and n_classes > n_old:
            scale = float(value.std()) or 1.0
            value = np.concatenate([value, (0.1 * scale * rng.standard_normal((n_classes - n_old, value.shape[1]))).astype(np.float32)])
        elif k == "b3" and n_classes > n_old:
            value = np.concatenate([value, np.full(n_classes - n_old, value.mean(), np.float32)])
        out.append(value.reshape(-1))
    return np.concatenate(out).astype(np.float32)
