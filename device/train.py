"""`edgedistill device train {krr,head,full}`: one dispatcher from labelled data to a device model.

`train(mode, graph, data, out, ...)`:
  graph: the export the mode runs (krr: random-feature nets; head: a frozen backbone with a
         (B, E) output; full: a train-step artifact from edgedistill.export.train_step);
  data:  a coreset, feature set (+ split), samples .npz or WAV class folders (see trainset.py),
         computed/checked with the graph's feature config;
  eval_data: an optional held-out set scored after training (accuracy, UAR, macro F1).
Writes an ``edgedistill.device-model`` artifact that `edgedistill device infer` runs, and returns
(path, summary). numpy + onnxruntime / LiteRT only: must not import torch or the host package.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgedistill.device import full, head, krr
from edgedistill.device.artifacts import check_output, ArtifactError, read_meta
from edgedistill.device.devmodel import save_device_model
from edgedistill.device.metrics import classification_metrics
from edgedistill.device.predictor import Predictor, feature_config_of, read_model_meta, resolve_model_file
from edgedistill.device.runtime import load_session
from edgedistill.device.trainset import Labelled, load_labelled, require_every_class

MODES = ("krr", "head", "full")
CONFIGS = {"krr": krr.KRRConfig, "head": head.HeadConfig, "full": full.FullConfig}


def make_config(mode: str, options: dict[str, Any] | None = None):
    """The mode's frozen config from options (unknown keys are errors naming the known ones)."""
    if mode not in MODES:
        raise ValueError(f"unknown device training mode {mode!r}; choose one of {', '.join(MODES)}")
    cls = CONFIGS[mode]
    options = {k: v for k, v in (options or {}).items() if v is not None}
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"{mode}: unknown option(s) {unknown}; {mode} takes {sorted(known)}")
    return cls(**options)


def train(mode: str, graph: str | Path, data: str | Path, out: str | Path, *, eval_data: str | Path | None = None,
          data_split: str | None = None, eval_split: str | None = None, options: dict[str, Any] | None = None,
          backend: str | None = None, threads: int | None = 1, log: Callable[[str], None] | None = None) -> tuple[Path, dict[str, Any]]:
    """Train a device model (see module doc). Returns (artifact path, summary with timings and metrics)."""
    config = make_config(mode, options)
    check_output(out)  # before any work: never over a user's folder
    log = log or (lambda _msg: None)
    if mode == "full":
        graph_dir = Path(graph)
        meta = read_meta(graph_dir, schema="edgedistill.export")
        if meta.extra.get("kind") != "train-step":
            raise ArtifactError(f"{graph_dir}: full mode needs a train-step export (kind 'train-step'), got kind {meta.extra.get('kind')!r}")
        session = load_session(graph_dir / "train_step.onnx", backend, threads)
        graphs = {"forward": graph_dir / "forward.onnx"}
    else:
        graph_dir, graph_file = resolve_model_file(graph, backend)
        session = load_session(graph_file, backend, threads)
        meta = read_model_meta(graph_dir, graph_file, session)
        graphs = {"features" if mode == "krr" else "backbone": graph_file}
    features = feature_config_of(meta, graph_dir)
    train_set = load_labelled(data, features, data_split)
    if mode == "full":
        train_set = train_set.aligned_to(list(meta.labels))
    require_every_class(train_set)
    labels = train_set.labels
    log(f"{mode}: {len(train_set.y)} training examples, {len(labels)} classes, graph {graph}")

    start = time.perf_counter()
    if mode == "krr":
        params = krr.fit(session, train_set.x, train_set.y, len(labels), config, train_set.y_soft)
        history: list[float] = []
        logits_fn = krr.krr_logits(session, params)
    elif mode == "head":
        params, history = head.train_head(head.embed(session, train_set.x), train_set.y, len(labels), config)
        logits_fn = head.head_logits_fn(session, params)
    else:
        init = _init_params(graph_dir)
        targets = np.eye(len(labels), dtype=np.float32)[train_set.y]
        params, history = full.train_full(session, init, train_set.x, targets, config,
                                          on_epoch=lambda e, loss: log(f"epoch {e + 1}/{config.epochs} loss {loss:.4f}"))
        logits_fn = full.forward_logits(load_session(graphs["forward"], backend, threads), params)
    train_seconds = time.perf_counter() - start

    predictor = Predictor(labels, features, logits_fn, meta, Path(graph_dir))
    metrics = {"train_" + k: v for k, v in _score(predictor, train_set).items() if k != "confusion"}
    if eval_data is not None:
        metrics.update(_score(predictor, load_labelled(eval_data, features, eval_split).aligned_to(labels)))
    metrics["train_seconds"] = train_seconds
    path = save_device_model(out, mode, labels, features, graphs, params, method=config.to_dict(), metrics=metrics,
                             seed=getattr(config, "seed", None),
                             extra={"trained_from": str(data), "graph_source": str(graph), "n_train": int(len(train_set.y)),
                                    "history": history})
    summary = {"mode": mode, "out": str(path), "n_train": int(len(train_set.y)), "n_classes": len(labels),
               "backend": session.backend, **metrics}
    if history:
        summary["first_loss"], summary["final_loss"] = history[0], history[-1]
    return path, summary


def _score(predictor: Predictor, data: Labelled) -> dict[str, Any]:
    pred = predictor.logits(data.x).argmax(axis=1)
    return classification_metrics(data.y, pred, len(predictor.labels))


def _init_params(graph_dir: Path) -> np.ndarray:
    try:
        with np.load(graph_dir / "init.npz", allow_pickle=False) as data:
            return data["params"].astype(np.float32)
    except (OSError, KeyError, ValueError) as err:
        raise ArtifactError(f"{graph_dir}/init.npz: missing or corrupt ({err}); re-export the train step") from None
