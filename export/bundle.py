"""The device bundle: one folder an Android (or any) app ships, explained by its own ``bundle.json``.

`write_bundle(run_dir, out_dir)` takes a trained classifier run (an ``edgedistill.model``
artifact trained on a coreset, or a quickstart run folder) and writes, atomically (temp folder,
then rename; an existing folder is never overwritten)::

    bundle.json                 what every file is, its inputs/outputs (names, shapes, dtypes,
                                quantisation) and the training loop, in words (bundle_json.py)
    meta.json                   the edgedistill artifact header (schema edgedistill.bundle)
    labels.txt                  one class name per line, in output order
    thresholds.json             per-class probability a detection needs
    required_operators.config   operators of all .ort files, for a reduced ONNX Runtime Mobile build
    classifier/audio.fp32.*     raw 16 kHz PCM (B, clip_samples) -> logits: front-end in the graph
    classifier/features.{fp32,int8}.*   features (B, F, T) -> logits
    frontend/frontend.fp32.*    PCM -> features (for training on the app's own recordings)
    train/train_step.{onnx,ort} one Adam step of the device-trainable net; train/forward.*;
                                init_params, reference_order and reference_params arrays; train/
                                is also a train-step export (meta.json, init.npz) for the Python
                                `edgedistill device train full BUNDLE/train` on a Pi
    krr/random_features.fp32.*  the coreset's random-feature nets (closed-form krr mode)
    coreset/x, y (, y_soft)     the coreset as raw little-endian arrays + JSON headers

Every ``.onnx`` file is converted to ``.ort`` with onnxruntime's own tool and each ``.ort`` is run
against its ``.onnx`` (figures in bundle.json); ``.tflite`` files come with ``formats`` including
"tflite". The classifier, front-end and nets are the validated exports of export.api (checked
against torch / the numpy front-end); the train step is export.train_step's. The reference run
is `edgedistill.device.full.train_full` on the bundle's coreset, so an app (or
tests/export/bundle_consumer.py) can check it reproduces `edgedistill device train full`.
Imports torch through the exporters; never imported by the device package.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgedistill.artifacts import ArtifactError, Meta, check_output, file_sha256, read_meta, write_artifact, write_json_atomic
from edgedistill.config import SEED_HELP, Settings, setting

SCHEMA = "edgedistill.bundle"
BUNDLE_FILE = "bundle.json"
BUNDLE_FORMATS = ("onnx", "tflite")  # ORT files are always made from the ONNX ones


class BundleError(ValueError):
    """A bundle cannot be made from the given run (names the file or field at fault)."""


@dataclass(frozen=True)
class BundleConfig(Settings):
    """What goes into a bundle and the on-device training loop it describes.

    formats: "onnx" (always; ORT files are converted from it) and optionally "tflite".
    int8: also int8 feature classifiers (calibrated on the coreset). epochs, batch_size, lr,
    weight_decay, seed: the `full`-mode loop (as `edgedistill device train full`). hidden1,
    hidden2, kernel: the device-trainable net. threshold: default detection probability per class.
    """

    formats: tuple[str, ...] = setting(BUNDLE_FORMATS, "onnx (ORT files are always converted from it) and optionally tflite.")
    int8: bool = setting(True, "Also int8 feature classifiers, calibrated on the coreset.")
    epochs: int = setting(30, "Epochs of the on-device training loop the bundle describes.")
    batch_size: int = setting(32, "Batch size of that loop.")
    lr: float = setting(3e-3, "Adam learning rate of that loop.")
    weight_decay: float = setting(0.0, "L2 weight decay of that loop.")
    seed: int = setting(0, SEED_HELP)
    hidden1: int = setting(32, "Channels of the device-trainable net's first block.")
    hidden2: int = setting(32, "Channels of its second block.")
    kernel: int = setting(3, "Its convolution kernel size.")
    threshold: float = setting(0.5, "Default detection probability per class (thresholds.json).")

    def __post_init__(self) -> None:
        formats = tuple(self.formats)
        unknown = [f for f in formats if f not in BUNDLE_FORMATS]
        if unknown or "onnx" not in formats:
            raise BundleError(f"bundle formats {list(formats)}: need 'onnx' and optionally 'tflite' (unknown: {unknown})")
        object.__setattr__(self, "formats", formats)
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0 or self.weight_decay < 0:
            raise BundleError(f"bundle training loop: need epochs >= 1, batch_size >= 1, lr > 0, weight_decay >= 0; got {self}")
        if not 0.0 < self.threshold <= 1.0:
            raise BundleError(f"bundle threshold must be in (0, 1], got {self.threshold}")

    def to_dict(self) -> dict[str, Any]:  # as written into the bundle's meta.json (no "type" key)
        return asdict(self)


def resolve_run(run_dir: str | os.PathLike, coreset: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """(model artifact, coreset artifact) of a run: a model artifact (its coreset from `coreset` or
    the model's meta training_data.coreset) or a quickstart run folder (stages/train.json, coreset/)."""
    run = Path(run_dir)
    if (run / "quickstart.json").is_file():
        stage = run / "stages" / "train.json"
        try:  # the model trained on the largest coreset, and that coreset
            chosen = json.loads(stage.read_text())["chosen"]
            model = Path(chosen["model_dir"])
            default = Path(json.loads((run / "stages" / "distill.json").read_text())["budgets"][str(chosen["ipc"])]["out"])
        except (OSError, KeyError, TypeError, json.JSONDecodeError) as err:
            raise BundleError(f"{stage}: no coreset-trained model recorded ({err}); finish the quickstart's train stage") from None
        return model, Path(coreset) if coreset else default
    meta = read_meta(run, "edgedistill.model")
    if coreset is None:
        data = meta.extra.get("training_data") or {}
        if data.get("source") != "coreset" or not data.get("coreset"):
            raise BundleError(f"{run}/meta.json: field training_data.coreset is absent (the model was trained on "
                              f"{data.get('source', 'unknown data')!r}); pass the coreset to ship with --coreset")
        coreset = data["coreset"]
    return run, Path(coreset)


def write_bundle(run_dir: str | os.PathLike, out_dir: str | os.PathLike, *, coreset: str | os.PathLike | None = None,
                 config: BundleConfig = BundleConfig(), progress: Callable[[str], None] | None = None) -> Path:
    """Write the device bundle of `run_dir` to the new folder `out_dir` (see module doc); returns its path."""
    from edgedistill.export.bundle_json import describe_bundle
    from edgedistill.methods.coreset import load_coreset

    out = Path(out_dir)
    check_output(out)
    say = progress or (lambda _msg: None)
    model_dir, coreset_dir = resolve_run(run_dir, coreset)
    model_meta = read_meta(model_dir, "edgedistill.model")
    core = load_coreset(coreset_dir, features=model_meta.feature_id, labels=list(model_meta.labels))
    meta = Meta(schema=SCHEMA, feature_config=model_meta.feature_config, feature_id=model_meta.feature_id,
                labels=list(model_meta.labels), method={"name": "bundle", **config.to_dict()}, seed=config.seed,
                source_manifest_hash=model_meta.source_manifest_hash,
                extra={"model": str(model_dir.resolve()), "coreset": str(coreset_dir.resolve()), "bundle_file": BUNDLE_FILE})

    def payload(tmp: Path) -> None:
        with tempfile.TemporaryDirectory(prefix=f".{out.name}.stage-", dir=out.parent) as stage:
            exports = _export_graphs(model_dir, coreset_dir, core, Path(stage), config, say)
            files = _place(exports, tmp, config)
            with np.load(exports["train_step"][0] / "init.npz", allow_pickle=False) as data:
                init = data["params"].astype(np.float32)
        say("converting ONNX files to ORT format (onnxruntime.tools.convert_onnx_models_to_ort)")
        ort = _convert_and_check(tmp, files, core, init)
        arrays = _write_arrays(tmp, core, init, config)
        (tmp / "labels.txt").write_text("".join(f"{name}\n" for name in model_meta.labels))
        write_json_atomic(tmp / "thresholds.json", {"applies_to": "softmax(logits) of the classifier",
                                                    "thresholds": {name: config.threshold for name in model_meta.labels}})
        say("running the reference training loop (edgedistill device train full) on the coreset")
        reference = _reference_run(tmp, core, init, config)
        description = describe_bundle(tmp, model_meta, core, config, files, ort, arrays, reference, exports)
        write_json_atomic(tmp / BUNDLE_FILE, description)
        description["files"] = _inventory(tmp)
        write_json_atomic(tmp / BUNDLE_FILE, description)

    say(f"writing bundle {out}")
    return write_artifact(out, meta, payload)


def read_bundle(path: str | os.PathLike) -> dict[str, Any]:
    """bundle.json of a bundle folder (the artifact header is checked first)."""
    read_meta(path, SCHEMA)
    return json.loads((Path(path) / BUNDLE_FILE).read_text())


# --- the steps -------------------------------------------------------------------------------

def _export_graphs(model_dir: Path, coreset_dir: Path, core, stage: Path, config: BundleConfig,
                   say: Callable[[str], None]) -> dict[str, Any]:
    """Export every graph into `stage` with the validated exporters; returns their folders and metas."""
    from edgedistill.export.api import export_coreset_nets, export_model, read_export
    from edgedistill.export.train_step import TrainStepConfig, export_train_step

    formats = list(config.formats)
    say("exporting the classifier (features in; fp32" + (", int8" if config.int8 else "") + ")")
    classifier = export_model(model_dir, stage / "classifier", formats=formats, int8=config.int8, calibration=coreset_dir,
                              progress=say)
    say("exporting the classifier with the front-end in the graph (raw PCM in)")
    audio = export_model(model_dir, stage / "audio", formats=formats, int8=False, with_frontend=True, progress=say)
    say("exporting the front-end alone (PCM -> features)")
    frontend = _export_frontend(core.config, stage / "frontend", formats)
    nets = None
    if core.meta is not None and "random_features" in core.meta.extra and "rf_norm" in core.meta.extra:
        say("exporting the coreset's random-feature nets (krr mode)")
        nets = export_coreset_nets(coreset_dir, stage / "krr", formats=["onnx"], int8=False, seed=core.meta.seed, progress=say)
    say("exporting the train-step and forward graphs (full mode)")
    step_config = TrainStepConfig(hidden1=config.hidden1, hidden2=config.hidden2, kernel=config.kernel)
    step = export_train_step(stage / "train", core.config.to_dict(), core.config.feature_id, list(core.labels), step_config,
                             seed=config.seed)
    return {"classifier": (classifier, read_export(classifier)), "audio": (audio, read_export(audio)),
            "frontend": frontend, "krr": None if nets is None else (nets, read_export(nets)),
            "train_step": (step, read_meta(step, "edgedistill.export"))}


def _export_frontend(features, out: Path, formats: list[str]) -> dict[str, Any]:
    """FrontEnd alone (audio (B, clip_samples) -> features (B, F, T)), each file checked against the numpy front-end."""
    from edgedistill.device.features import extract_batch
    from edgedistill.export.api import FRONTEND_ATOL
    from edgedistill.export.frontend import FrontEnd
    from edgedistill.export.graphs import GraphSpec
    from edgedistill.export.onnx_export import to_onnx
    from edgedistill.export.tflite_export import to_tflite
    from edgedistill.export.validate import run_file

    out.mkdir(parents=True)
    spec = GraphSpec("frontend", {"audio": (features.clip_samples,)}, "features")
    audio = 0.1 * np.random.default_rng(0).standard_normal((8, features.clip_samples)).astype(np.float32)
    reference = extract_batch(audio, features)
    files = {}
    for name, convert in (("onnx", to_onnx), ("tflite", to_tflite)):
        if name not in formats:
            continue
        path = out / f"frontend.fp32.{name}"
        info = convert(FrontEnd(features), spec, path, dynamic_batch=True)
        diff = float(np.max(np.abs(run_file(path, {"audio": audio}) - reference)))
        if not diff <= FRONTEND_ATOL:
            raise BundleError(f"{path.name}: front-end graph differs from the numpy front-end by {diff:.3g} (> {FRONTEND_ATOL})")
        files[path.name] = {**info, "validation": {"max_abs_diff": diff, "against": "numpy front-end, 8 seeded noise clips"}}
    return {"dir": out, "files": files}


def _place(exports: dict[str, Any], tmp: Path, config: BundleConfig) -> dict[str, dict[str, Any]]:
    """Copy the exported files into the bundle layout: {bundle path: {source details}}."""
    placed: dict[str, dict[str, Any]] = {}

    def put(src: Path, dest: str, details: dict[str, Any]) -> None:
        target = tmp / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        placed[dest] = details

    for key, prefix in (("classifier", "classifier/features"), ("audio", "classifier/audio")):
        folder, meta = exports[key]
        for name, entry in meta.extra["files"].items():  # model.<precision>.<ext>
            put(folder / name, f"{prefix}.{name.split('.', 1)[1]}", entry)
    for name, entry in exports["frontend"]["files"].items():
        put(exports["frontend"]["dir"] / name, f"frontend/{name}", entry)
    if exports["krr"] is not None:
        folder, meta = exports["krr"]
        for name, entry in meta.extra["files"].items():
            put(folder / name, f"krr/random_features.{name.split('.', 1)[1]}", entry)
    folder, _ = exports["train_step"]
    for name in ("train_step.onnx", "forward.onnx"):
        put(folder / name, f"train/{name}", {"format": "onnx", "precision": "fp32"})
    for name in ("meta.json", "init.npz"):  # train/ stays an export artifact: `edgedistill device train full BUNDLE/train`
        shutil.copyfile(folder / name, tmp / "train" / name)
    return placed


def _convert_and_check(tmp: Path, files: dict[str, dict[str, Any]], core, init: np.ndarray) -> dict[str, Any]:
    """ORT files beside every .onnx, each run against its .onnx on the same inputs."""
    from edgedistill.export.ort_format import compare_ort, convert_folder, required_operators

    info = convert_folder(tmp)
    checks = {}
    for name in sorted(n for n in files if n.endswith(".onnx")):
        ort_name = name[: -len(".onnx")] + ".ort"
        checks[ort_name] = compare_ort(tmp / name, tmp / ort_name, _check_inputs(name, core, init))
        files[ort_name] = {"format": "ort", "precision": files[name].get("precision", "fp32"), "converted_from": name,
                           "validation": checks[ort_name]}
    return {**info, "operators": required_operators(tmp / info["config"]), "checks": checks}


def _check_inputs(name: str, core, init: np.ndarray) -> dict[str, np.ndarray]:
    """Inputs to compare an .ort with its .onnx: coreset features, seeded PCM, a real train-step batch."""
    from edgedistill.device.full import band_stats

    x = np.ascontiguousarray(core.x[:8], dtype=np.float32)
    if name.startswith(("classifier/audio", "frontend/")):
        rng = np.random.default_rng(0)
        return {"audio": (0.1 * rng.standard_normal((4, core.config.clip_samples))).astype(np.float32)}
    if not name.startswith("train/"):
        return {"features": x}
    mean, std = band_stats(core.x)
    params = np.asarray(init, dtype=np.float32)
    if name == "train/forward.onnx":
        return {"features": x, "mean": mean, "std": std, "params": params}
    one = lambda v: np.array([v], dtype=np.float32)  # noqa: E731
    y = np.eye(len(core.labels), dtype=np.float32)[core.y[:8]]
    return {"x": x, "y": y, "mean": mean, "std": std, "lr": one(3e-3), "step": one(1.0), "weight_decay": one(0.0),
            "params": params, "m": np.zeros_like(params), "v": np.zeros_like(params)}


def write_array(folder: Path, stem: str, array: np.ndarray) -> dict[str, Any]:
    """`stem`.f32 / .i32 raw little-endian C-order bytes plus `stem`.json {file, shape, dtype, byte_order, order}."""
    array = np.asarray(array)
    dtype = np.dtype("<f4") if array.dtype.kind == "f" else np.dtype("<i4")
    if array.dtype.kind in "iu" and array.size and (array.min() < -2**31 or array.max() >= 2**31):
        raise BundleError(f"{stem}: integer values do not fit int32")
    suffix = "f32" if dtype.kind == "f" else "i32"
    folder.mkdir(parents=True, exist_ok=True)
    data = np.ascontiguousarray(array, dtype=dtype)
    (folder / f"{stem}.{suffix}").write_bytes(data.tobytes(order="C"))
    header = {"file": f"{stem}.{suffix}", "shape": list(data.shape), "dtype": "float32" if suffix == "f32" else "int32",
              "byte_order": "little", "order": "C (row-major: the last axis varies fastest)", "bytes": int(data.nbytes)}
    write_json_atomic(folder / f"{stem}.json", header)
    return header


def _write_arrays(tmp: Path, core, init: np.ndarray, config: BundleConfig) -> dict[str, Any]:
    """The coreset, initial params and the reference shuffling order as raw arrays with JSON headers."""
    arrays = {"coreset/x": write_array(tmp / "coreset", "x", core.x), "coreset/y": write_array(tmp / "coreset", "y", core.y)}
    if core.y_soft is not None:
        arrays["coreset/y_soft"] = write_array(tmp / "coreset", "y_soft", core.y_soft)
    arrays["train/init_params"] = write_array(tmp / "train", "init_params", init)
    arrays["train/reference_order"] = write_array(tmp / "train", "reference_order", reference_order(len(core.y), config))
    return arrays


def reference_order(n: int, config: BundleConfig) -> np.ndarray:
    """(epochs, n) the example order of each epoch, as `edgedistill device train full` draws it
    (numpy.random.default_rng(seed).permutation(n), once per epoch, from one generator)."""
    rng = np.random.default_rng(config.seed)
    return np.stack([rng.permutation(n) for _ in range(config.epochs)])


def _reference_run(tmp: Path, core, init: np.ndarray, config: BundleConfig) -> dict[str, Any]:
    """`device train full`'s loop (edgedistill.device.full) on the coreset with the bundle's ONNX train step."""
    from edgedistill.device.full import FullConfig, train_full
    from edgedistill.device.runtime import load_session

    full = FullConfig(epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, weight_decay=config.weight_decay,
                      seed=config.seed)
    targets = np.eye(len(core.labels), dtype=np.float32)[core.y]
    params, history = train_full(load_session(tmp / "train" / "train_step.onnx"), init, np.asarray(core.x, dtype=np.float32),
                                 targets, full)
    header = write_array(tmp / "train", "reference_params", params["params"])
    return {"params": header, "epoch_mean_loss": [round(v, 6) for v in history], "mean": params["mean"].tolist(),
            "std": params["std"].tolist(), "runtime": "onnxruntime on train/train_step.onnx (edgedistill.device.full.train_full)"}


def _inventory(tmp: Path) -> dict[str, dict[str, Any]]:
    """Every file of the bundle (but bundle.json and meta.json): size and sha256."""
    skip = {BUNDLE_FILE, "meta.json"}
    return {str(p.relative_to(tmp)): {"size_bytes": p.stat().st_size, "sha256": file_sha256(p)}
            for p in sorted(tmp.rglob("*")) if p.is_file() and str(p.relative_to(tmp)) not in skip}
