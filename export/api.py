"""Export entry points: torch module / model artifact / generator / random-feature nets ->
an "edgedistill.export" artifact directory of validated ONNX and TFLite files.

Every file is converted, run in its real runtime on held-out inputs and compared with torch
(figures in meta.json, refused beyond tolerance); int8 files are calibrated on the data given as
`calibration` (the distilled coreset or generator samples, so the device never needs the real
dataset). The directory is written atomically: a failed export leaves nothing behind.
Imports torch inside functions; never imported by the device package.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgedistill.artifacts import Meta, check_output, file_sha256, read_meta, write_artifact
from edgedistill.export.formats import FORMATS, check_supported, parse_formats
from edgedistill.registry import Registry

SCHEMA = "edgedistill.export"
RANDOM_VALIDATION = 32  # random validation inputs when none are given
# with the front-end in the graph, the float32 STFT/dB/CMVN differs from the float64 numpy
# front-end by ~2e-5 in the features (measured), which the model amplifies: looser fp32 tolerance
FRONTEND_ATOL = 2e-3


def export_module(module, input_shape: Sequence[int], out: str | os.PathLike, formats: str | Sequence[str] = ("onnx", "tflite"),
                  int8: bool = False, calibration: np.ndarray | None = None, meta: dict[str, Any] | None = None,
                  validate_on: tuple[np.ndarray, np.ndarray] | None = None, with_frontend: bool = False,
                  validate_audio: tuple[np.ndarray, np.ndarray | None] | None = None, **options) -> Path:
    """Export a classifier `module` ((B, F, T) features -> (B, C) logits) to `out`.

    input_shape: (F, T). formats: names from FORMATS (or "onnx,tflite"). int8: also write int8
    files, calibrated on `calibration` (N, F, T) float32 (required with int8). meta: must hold
    ``feature_config`` (dict or FeatureConfig) and ``labels``; optional ``feature_id``, ``source``,
    ``seed``, ``source_manifest_hash``. validate_on: (x (N, F, T), y (N,) int) real held-out data:
    figures include accuracy; without it, calibration data (or random inputs) are used.
    with_frontend: put the feature front-end in the graph (input ``audio`` (B, clip_samples) at the
    config's sample rate); files are validated against torch on the numpy front-end's features
    of `validate_audio` ((N, clip_samples) audio, labels or None; default: seeded noise clips).
    fp32 only.
    options: see `export_graph` (tflite_int8, min_int8_agreement, int8_rel_tol, dynamic_batch, progress).
    """
    from edgedistill.export.graphs import classifier_spec

    spec = classifier_spec(_shape(input_shape, 2, "input_shape"))
    meta = dict(meta or {})
    if "labels" not in meta:
        raise ValueError("export meta needs 'labels' (the class names, in output order)")
    if with_frontend:
        if int8:
            raise ValueError("int8 is not supported with the front-end in the graph (dB and CMVN need float); "
                             "export fp32 with --with-frontend, or int8 without it")
        return _export_with_frontend(module, spec, out, formats, meta, validate_audio, options)
    calib = None if calibration is None else {"features": calibration}
    valid = None
    if validate_on is not None:
        x, y = validate_on
        valid = ({"features": x}, np.asarray(y))
    return export_graph(module, spec, out, formats=formats, int8=int8, calibration=calib, meta=meta, validate_on=valid, **options)


def _export_with_frontend(module, spec, out, formats, meta, validate_audio, options) -> Path:
    """export_module(with_frontend=True): WithFrontEnd graph, reference = torch on numpy features."""
    from edgedistill.export.frontend import WithFrontEnd
    from edgedistill.export.graphs import audio_classifier_spec, torch_outputs
    from edgedistill.features import extract_batch

    config = _feature_config(meta.get("feature_config"))
    if tuple(spec.inputs["features"]) != config.shape:
        raise ValueError(f"input shape {tuple(spec.inputs['features'])} does not match the feature config's (F, T) = {config.shape}")
    audio_spec = audio_classifier_spec(config.clip_samples)
    if validate_audio is None:
        audio = 0.1 * np.random.default_rng(0).standard_normal((RANDOM_VALIDATION, config.clip_samples)).astype(np.float32)
        labels, source = None, "noise clips (seed 0)"
    else:
        audio, labels = validate_audio
        audio, source = np.asarray(audio, dtype=np.float32), "given audio"
        if audio.ndim != 2 or audio.shape[1] != config.clip_samples:
            raise ValueError(f"validation audio has shape {audio.shape}; expected (N, {config.clip_samples}) clips at {config.sample_rate} Hz")
    reference = torch_outputs(module, spec, {"features": extract_batch(audio, config)})
    meta = {**meta, "frontend": {"input": "audio", "clip_samples": config.clip_samples, "sample_rate": config.sample_rate,
                                 "validated_against": "numpy front-end (edgedistill.device.features)", "validation_audio": source}}
    options.setdefault("fp32_atol", FRONTEND_ATOL)
    return export_graph(WithFrontEnd(config, module), audio_spec, out, formats=formats, int8=False, calibration=None, meta=meta,
                        validate_on=({"audio": audio}, labels), reference=reference, validation_source=source, **options)


def export_model(model_dir: str | os.PathLike, out: str | os.PathLike, formats: str | Sequence[str] = ("onnx", "tflite"),
                 int8: bool = False, calibration: str | os.PathLike | np.ndarray | None = None,
                 eval_data: str | os.PathLike | None = None, eval_split: str = "test", calibration_max: int = 256,
                 **options) -> Path:
    """Export a trained model artifact ("edgedistill.model" directory).

    calibration: a feature cache, coreset or generator artifact directory (or an (N, F, T) array)
    of the model's features. eval_data: a feature cache whose `eval_split` clips are the
    validation inputs (accuracy of every file is reported on them).
    """
    from edgedistill.export.inputs import load_calibration, load_eval
    from edgedistill.model_artifact import load_model

    source = read_meta(model_dir, "edgedistill.model")
    trained = load_model(model_dir)
    features = _feature_config(source.feature_config)
    input_shape = source.extra.get("input_shape") or features.shape
    calib = calibration if calibration is None or isinstance(calibration, np.ndarray) else \
        load_calibration(calibration, features, labels=source.labels, limit=calibration_max, seed=source.seed or 0)
    valid = None if eval_data is None else load_eval(eval_data, features, source.labels, split=eval_split)
    meta = {"feature_config": source.feature_config, "feature_id": source.feature_id, "labels": source.labels,
            "seed": source.seed, "source_manifest_hash": source.source_manifest_hash,
            "source": _source(model_dir, source), "calibration_source": _describe(calibration),
            "eval_data": None if eval_data is None else f"{eval_data} ({eval_split} split)"}
    return export_module(trained.module, input_shape, out, formats=formats, int8=int8, calibration=calib, meta=meta,
                         validate_on=valid, **options)


def export_artifact(run: str | os.PathLike, out: str | os.PathLike, config, *, calibration: str | os.PathLike | None = None,
                    eval_data: str | os.PathLike | None = None, seed: int | None = None,
                    progress: Callable[[str], None] | None = None) -> dict[str, Path]:
    """`edgedistill export RUN --target ...`: export whatever RUN is, read from its meta.json.

    A trained model -> the classifier; a generator -> the generator; an RFAD coreset -> its
    random-feature nets (device `krr` mode); the `bundle` target (a model trained on a coreset, or a
    quickstart run) writes the device bundle (`export.bundle`). config: an `ExportConfig`. Returns
    {target: path}: onnx and tflite share the export directory `out`; a bundle alone is `out`, beside
    them `out.bundle`.
    """
    targets = config.targets()
    kind = read_meta(run).schema
    formats = tuple(t for t in targets if t != "bundle")
    # alone, the bundle is OUT; beside onnx/tflite files it is OUT.bundle next to the export folder
    bundle_out = Path(out) if not formats else Path(out).with_name(f"{Path(out).name}.bundle")
    check_output(out)
    if "bundle" in targets:
        from edgedistill.export.bundle import resolve_run

        resolve_run(run)  # a model without its coreset is refused before any file is written
        if formats:
            check_output(bundle_out)
    common = {"int8": config.int8, "tflite_int8": config.tflite_int8, "progress": progress}
    written: dict[str, Path] = {}
    if formats:
        if kind == "edgedistill.model":
            path = export_model(run, out, formats=formats, calibration=calibration, eval_data=eval_data,
                                eval_split=config.split, calibration_max=config.calibration_max,
                                min_int8_agreement=config.min_int8_agreement, with_frontend=config.with_frontend, **common)
        elif kind == "edgedistill.generator":
            path = export_generator(run, out, formats=formats, calibration_samples=config.samples, **common)
        elif kind == "edgedistill.coreset":
            path = export_coreset_nets(run, out, formats=formats, seed=seed, **common)
        else:
            raise ValueError(f"{run} is a {kind} artifact; export takes a trained model (`edgedistill train`), a generator "
                             "(`distill gan`) or an RFAD coreset (`distill rfad`)")
        written.update({f: Path(path) for f in formats})
    if "bundle" in targets:
        from edgedistill.export.bundle import BundleConfig, write_bundle

        chosen = tuple(f for f in formats if f in ("onnx", "tflite")) or ("onnx", "tflite")
        written["bundle"] = write_bundle(run, bundle_out, config=BundleConfig(formats=chosen, int8=config.int8 or not formats),
                                         progress=progress)
    return written


def export_generator(generator_dir: str | os.PathLike, out: str | os.PathLike, formats: str | Sequence[str] = ("onnx", "tflite"),
                     int8: bool = False, calibration_samples: int = 64, **options) -> Path:
    """Export a GAN generator artifact: inputs ``z`` (B, z_dim), ``label_onehot`` (B, C) ->
    ``features`` (B, F, T). int8 calibrates on its own latent/one-hot inputs."""
    from edgedistill.methods.gan.artifact import load_generator

    source = read_meta(generator_dir, "edgedistill.generator")
    gen = load_generator(generator_dir)
    module = getattr(gen, "module", gen)
    z_dim = int(getattr(gen, "z_dim", source.extra.get("z_dim", 0)))
    if z_dim <= 0:
        raise ValueError(f"{generator_dir}: generator has no latent size z_dim in its meta; re-save it with edgedistill")
    meta = {"feature_config": source.feature_config, "feature_id": source.feature_id, "labels": source.labels,
            "seed": source.seed, "source_manifest_hash": source.source_manifest_hash,
            "source": _source(generator_dir, source), "z_dim": z_dim}
    return export_generator_module(module, z_dim, out, formats=formats, int8=int8, meta=meta,
                                   calibration_samples=calibration_samples, **options)


def export_generator_module(module, z_dim: int, out: str | os.PathLike, formats: str | Sequence[str] = ("onnx", "tflite"),
                            int8: bool = False, meta: dict[str, Any] | None = None, calibration_samples: int = 64,
                            seed: int = 0, **options) -> Path:
    """Export a generator torch module ``forward(z, label_onehot) -> (B, F, T)``; meta as in `export_module`."""
    from edgedistill.export.graphs import generator_spec

    meta = dict(meta or {})
    if not meta.get("labels"):
        raise ValueError("generator export meta needs 'labels' (one class per one-hot column)")
    spec = generator_spec(z_dim, len(meta["labels"]))
    rng = np.random.default_rng(seed)
    calib = spec.example(calibration_samples, rng)
    valid = (spec.example(calibration_samples, rng), None)
    meta.setdefault("z_dim", int(z_dim))
    return export_graph(module, spec, out, formats=formats, int8=int8, calibration=calib, meta=meta, validate_on=valid, **options)


def export_random_features(nets, input_shape: Sequence[int], out: str | os.PathLike, formats: str | Sequence[str] = ("onnx", "tflite"),
                           int8: bool = False, calibration: np.ndarray | None = None, meta: dict[str, Any] | None = None,
                           **options) -> Path:
    """Export random-feature nets (device `krr` mode): ``features`` (B, F, T) -> ``phi`` (B, D).

    nets: one torch module (x -> Φ) or a sequence of them (their outputs are concatenated, in
    order, as Φ). meta: ``feature_config`` and ``labels`` as in `export_module` (plus anything
    the device needs, e.g. the kernel's ``n_nets`` and scaling, kept in meta.json).
    calibration: (N, F, T) inputs for int8 and validation (e.g. the coreset).
    """
    from edgedistill.export.graphs import random_features_spec

    spec = random_features_spec(_shape(input_shape, 2, "input_shape"))
    module = _concat(nets)
    meta = dict(meta or {})
    meta.setdefault("labels", [])
    calib = None if calibration is None else {"features": calibration}
    valid = None if calibration is None else ({"features": calibration}, None)
    return export_graph(module, spec, out, formats=formats, int8=int8, calibration=calib, meta=meta, validate_on=valid, **options)


def export_coreset_nets(coreset_dir: str | os.PathLike, out: str | os.PathLike, formats: str | Sequence[str] = ("onnx", "tflite"),
                        int8: bool = False, seed: int | None = None, **options) -> Path:
    """Export the random-feature nets of an RFAD coreset artifact for the device `krr` mode.

    The nets are drawn with the coreset's random-feature config and input normalisation
    (meta ``random_features`` and ``rf_norm``) and `seed` (default: the coreset's seed); the
    coreset itself is the validation (and int8 calibration) data.
    """
    from edgedistill.methods.coreset import load_coreset
    from edgedistill.methods.random_features import RandomFeatureConfig, random_feature_nets

    source = read_meta(coreset_dir, "edgedistill.coreset")
    if "random_features" not in source.extra or "rf_norm" not in source.extra:
        raise ValueError(f"{coreset_dir}: coreset meta has no random_features / rf_norm; only RFAD coresets carry their kernel's nets")
    coreset = load_coreset(coreset_dir)
    rf = RandomFeatureConfig(**source.extra["random_features"])
    seed = int(source.seed or 0) if seed is None else int(seed)
    norm = source.extra["rf_norm"]
    shape = _feature_config(source.feature_config).shape
    nets = random_feature_nets(shape, rf, seed, np.asarray(norm["mean"]), np.asarray(norm["std"]), im2col=False)
    meta = {"feature_config": source.feature_config, "feature_id": source.feature_id, "labels": source.labels, "seed": seed,
            "source_manifest_hash": source.source_manifest_hash, "source": _source(coreset_dir, source),
            "random_features": rf.to_dict(), "rf_norm": norm, "n_nets": rf.n_nets}
    return export_random_features(nets, shape, out, formats=formats, int8=int8, calibration=np.asarray(coreset.x, dtype=np.float32),
                                  meta=meta, **options)


def export_graph(module, spec, out: str | os.PathLike, *, formats: str | Sequence[str], int8: bool,
                 calibration: dict[str, np.ndarray] | None, meta: dict[str, Any],
                 validate_on: tuple[dict[str, np.ndarray], np.ndarray | None] | None,
                 tflite_int8: str = "dynamic", min_int8_agreement: float = 0.8, int8_rel_tol: float = 0.25,
                 dynamic_batch: bool = True, progress: Callable[[str], None] | None = None,
                 reference: np.ndarray | None = None, fp32_atol: float | None = None,
                 validation_source: str | None = None) -> Path:
    """Convert, quantize, validate and write one export artifact (the shared core of the entry points).

    tflite_int8: "dynamic" (default: dynamic range, int8 weights, float32 I/O as the contract says) or
    "static" (full integer with int8 I/O; it lost accuracy on the toy CNN, so it is opt-in).
    min_int8_agreement: floor on int8 top-1 agreement with torch (classifiers, real inputs).
    int8_rel_tol: largest int8 max diff relative to the output range (generator, random features).
    progress: called with a short status line before each step.
    reference: expected outputs on `validate_on` inputs (default: the torch module's own outputs).
    fp32_atol: override the formats table's fp32 tolerance.
    validation_source: how meta describes the validation inputs (default: given / calibration / random).
    """
    import torch

    from edgedistill.export import validate as checks
    from edgedistill.export.graphs import torch_outputs
    from edgedistill.export.quantization import TFLITE_MODES, check_calibration

    names = parse_formats(formats)
    check_supported(spec.kind, names, ("fp32", "int8") if int8 else ("fp32",))
    if not isinstance(module, torch.nn.Module):
        raise ValueError(f"expected a torch.nn.Module to export, got {type(module).__name__}")
    if tflite_int8 not in TFLITE_MODES:
        raise ValueError(f"unknown tflite_int8 mode {tflite_int8!r}; choose from: {', '.join(TFLITE_MODES)}")
    if int8 and calibration is None:
        raise ValueError("int8 export needs calibration data (the coreset, generator samples or a feature cache): "
                         "pass --calibration or export without --int8")
    calib = check_calibration(calibration, spec.inputs) if calibration is not None else None
    inputs, labels, source_of_inputs = _validation_inputs(spec, validate_on, calib)
    described = validation_source or source_of_inputs
    if reference is None:
        reference = torch_outputs(module, spec, inputs)
    elif len(reference) != len(next(iter(inputs.values()))):
        raise ValueError("reference outputs and validation inputs have different lengths")
    _check_outputs(spec, reference, meta)
    say = progress or (lambda _msg: None)
    base = _base_meta(meta, spec)

    def payload(tmp: Path) -> None:
        files: dict[str, Any] = {}
        for name in names:
            fmt = FORMATS[name]
            convert = _load(fmt.converter)
            fp32 = tmp / fmt.filename("fp32")
            say(f"converting to {name} (fp32)")
            info = convert(module, spec, fp32, dynamic_batch=dynamic_batch and fmt.dynamic_batch)
            jobs = [("fp32", fp32, info)]
            if int8:
                say(f"quantizing {name} to int8")
                q = tmp / fmt.filename("int8")
                step = 1 if info["batch"] == 1 else 32
                qinfo = _load(fmt.quantizer)(fp32, q, calib, batch_size=step, **({"mode": tflite_int8} if name == "tflite" else {}))
                jobs.append(("int8", q, {**info, **qinfo}))
            for precision, path, details in jobs:
                say(f"validating {path.name} in {fmt.runtime}")
                figures = checks.compare(reference, checks.run_file(path, inputs), spec.kind, labels)
                checks.check(figures, file=path.name, precision=precision, kind=spec.kind, fp32_atol=fp32_atol or fmt.fp32_atol,
                             min_int8_agreement=min_int8_agreement, int8_rel_tol=int8_rel_tol,
                             real_inputs=source_of_inputs != "random")
                files[path.name] = {"format": name, "precision": precision, **details, "validation": figures}
        base.extra["files"] = files
        base.metrics = {f: v["validation"] for f, v in files.items()}
        base.extra["validation_inputs"] = {"source": described, "n": int(len(reference))}
        _embed(tmp, base)
        for fname, entry in files.items():
            entry["size_bytes"] = (tmp / fname).stat().st_size
            entry["sha256"] = file_sha256(tmp / fname)

    return write_artifact(out, base, payload)


def read_export(path: str | os.PathLike) -> Meta:
    """Read an export artifact's meta (schema-checked)."""
    return read_meta(path, SCHEMA)


def _validation_inputs(spec, validate_on, calib):
    if validate_on is not None:
        inputs, labels = validate_on
        from edgedistill.export.quantization import check_calibration

        try:
            inputs = check_calibration(inputs, spec.inputs)
        except ValueError as err:
            raise ValueError(str(err).replace("int8 calibration", "validation")) from None
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (len(next(iter(inputs.values()))),):
                raise ValueError(f"validation labels have shape {labels.shape}; expected one class index per example")
        return inputs, labels, "given"
    if calib is not None:
        return calib, None, "calibration"
    return spec.example(RANDOM_VALIDATION, np.random.default_rng(0)), None, "random"


def _check_outputs(spec, reference: np.ndarray, meta: dict[str, Any]) -> None:
    if spec.kind == "classifier":
        n_labels = len(meta.get("labels", []))
        if reference.ndim != 2 or reference.shape[1] != n_labels:
            raise ValueError(f"the model outputs shape {tuple(reference.shape)} but meta has {n_labels} labels; "
                             "a classifier must return logits (B, n_labels)")
    if not np.isfinite(reference).all():
        raise ValueError("the torch model returns NaN/inf on the validation inputs; it cannot be validated (is it trained?)")


def _base_meta(meta: dict[str, Any], spec) -> Meta:
    config = meta.get("feature_config")
    if config is None:
        raise ValueError("export meta needs 'feature_config' (the features the model takes)")
    try:
        features = _feature_config(config)
    except ValueError:
        if spec.kind != "generator" or not isinstance(config, dict) or not meta.get("feature_id"):
            raise
        features = None  # a generator of SSL features (HuBERT frames): keep its config as written
    if features is None:
        config_dict, feature_id = dict(config), str(meta["feature_id"])
    else:
        if "features" in spec.inputs and tuple(spec.inputs["features"]) != features.shape:
            raise ValueError(f"input shape {tuple(spec.inputs['features'])} does not match the feature config's (F, T) = {features.shape}")
        if meta.get("feature_id") not in (None, features.feature_id):
            raise ValueError(f"meta feature_id {meta['feature_id']} does not match its feature_config ({features.feature_id})")
        config_dict, feature_id = features.to_dict(), features.feature_id
    known = {"feature_config", "feature_id", "labels", "seed", "source_manifest_hash"}
    extra = {k: v for k, v in meta.items() if k not in known}
    extra.update({"graph": spec.to_dict(), "formats": []})
    return Meta(schema=SCHEMA, feature_config=config_dict, feature_id=feature_id, labels=list(meta["labels"]),
                method={"name": "export"}, seed=meta.get("seed"), source_manifest_hash=meta.get("source_manifest_hash"),
                extra=extra)


def _embed(tmp: Path, meta: Meta) -> None:
    """meta (without per-file sizes/hashes, which the embedding changes) into every ONNX file."""
    from edgedistill.export.onnx_export import embed_metadata

    meta.extra["formats"] = sorted({v["format"] for v in meta.extra["files"].values()})
    data = meta.to_dict()
    for path in sorted(tmp.glob("*.onnx")):
        embed_metadata(path, data)


def _feature_config(config):
    from edgedistill.features import FeatureConfig

    if isinstance(config, FeatureConfig):
        return config
    if not isinstance(config, dict):
        raise ValueError(f"feature_config should be a FeatureConfig or a dict, got {type(config).__name__}")
    return FeatureConfig.from_dict(config)


def _shape(shape: Sequence[int], ndim: int, name: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"{name} should be {ndim} positive integers, got {shape!r}") from None
    if len(dims) != ndim or min(dims) <= 0:
        raise ValueError(f"{name} should be {ndim} positive integers, got {shape!r}")
    return dims


def _concat(nets):
    import torch

    if isinstance(nets, torch.nn.Module):
        return nets
    nets = list(nets)
    if not nets or not all(isinstance(n, torch.nn.Module) for n in nets):
        raise ValueError("random-feature nets should be a torch module or a non-empty sequence of them")

    class _Concat(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.nets = torch.nn.ModuleList(nets)

        def forward(self, x):
            return torch.cat([n(x).flatten(1) for n in self.nets], dim=1)

    return _Concat().eval()


def _source(path, meta: Meta) -> dict[str, Any]:
    return {"path": str(Path(path).resolve()), "schema": meta.schema, "created": meta.created, "git_commit": meta.git_commit,
            "method": meta.method, "metrics": meta.metrics, "extra": meta.extra}


def _describe(calibration) -> str | None:
    if calibration is None:
        return None
    return "array" if isinstance(calibration, np.ndarray) else str(Path(calibration).resolve())


def _load(target: str):
    """The function behind a "module:function" path from the formats table."""
    return Registry("export step", {"step": target})["step"]
