"""The words of ``bundle.json``: what each graph of a device bundle takes and returns, and the
training loop, written for an app programmer (Kotlin/Java with ONNX Runtime Mobile or LiteRT)
who never sees this package.

Inputs and outputs are read from the files themselves (onnxruntime's and LiteRT's view of each
graph), never restated by hand. Used by export/bundle.py only; numpy + onnxruntime/LiteRT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgedistill.artifacts import Meta

BUNDLE_VERSION = 1

PCM = ("mono float32 samples in [-1, 1] (16-bit PCM divided by 32768) at sample_rate Hz, exactly clip_samples per "
       "clip: pad shorter clips with zeros at the end, cut longer ones (or slide a clip_samples window with a hop)")

GRAPHS = {
    "classify_audio": ("classifier/audio.fp32", "Raw PCM clips -> class logits. The feature front-end (framing, real-DFT "
                       "STFT, mel, dB, DCT, per-clip normalisation) is inside the graph."),
    "classify_features": ("classifier/features.fp32", "Features (from frontend) -> class logits."),
    "classify_features_int8": ("classifier/features.int8", "Same as classify_features with int8 weights and activations "
                               "inside the graph; inputs and outputs stay float32."),
    "frontend": ("frontend/frontend.fp32", "Raw PCM clips -> features (B, n_features, n_frames), the model's front-end; "
                 "use it to turn the app's own recordings into training data."),
    "train_step": ("train/train_step", "One Adam step of the device-trainable network (training section)."),
    "forward": ("train/forward", "Inference of the device-trained network: features, mean, std, params -> logits."),
    "random_features": ("krr/random_features.fp32", "The coreset's random-feature nets: features -> phi (B, D) (krr section)."),
}

STEP_INPUT_WORDS = {
    "x": "float32 (B, n_features, n_frames): the batch's features (coreset rows, or frontend output of recordings)",
    "y": "float32 (B, n_classes): targets, one row per example, one-hot of its label index",
    "mean": "float32 (n_features,): per-feature mean over all training examples and frames (fixed for the whole run)",
    "std": "float32 (n_features,): per-feature population std over all training examples and frames, at least 1e-6",
    "lr": "float32 (1,): the learning rate",
    "step": "float32 (1,): the 1-based count of steps taken so far including this one (1, 2, 3, ...), for Adam's bias correction",
    "weight_decay": "float32 (1,): L2 weight decay added to the gradient (as torch.optim.Adam)",
    "params": "float32 (P,): all weights, flattened (start from train/init_params)",
    "m": "float32 (P,): Adam first moment (start with zeros)",
    "v": "float32 (P,): Adam second moment (start with zeros)",
}
STEP_OUTPUT_WORDS = {
    "loss": "float32 (1,): mean cross-entropy of the batch before the update",
    "new_params": "float32 (P,): feed back as params",
    "new_m": "float32 (P,): feed back as m",
    "new_v": "float32 (P,): feed back as v",
}


def describe_bundle(tmp: Path, model_meta: Meta, core, config, files: dict[str, dict[str, Any]], ort: dict[str, Any],
                    arrays: dict[str, Any], reference: dict[str, Any], exports: dict[str, Any]) -> dict[str, Any]:
    """The bundle.json object (without the file inventory, added by the caller)."""
    features = core.config
    n_features, n_frames = features.shape
    step_meta = exports["train_step"][1]
    return {
        "schema": "edgedistill.bundle", "bundle_version": BUNDLE_VERSION,
        "created": step_meta.created, "edgedistill_version": model_meta.package_version, "git_commit": step_meta.git_commit,
        "labels": list(model_meta.labels), "labels_file": "labels.txt", "thresholds_file": "thresholds.json",
        "audio": {"sample_rate": features.sample_rate, "clip_samples": features.clip_samples, "channels": 1,
                  "dtype": "float32", "what": PCM},
        "features": {"shape": [n_features, n_frames], "feature_id": features.feature_id, "config": features.to_dict(),
                     "what": "(n_features, n_frames) per clip, as the frontend graph computes them"},
        "arrays": {"what": "raw little-endian arrays in C order (last axis fastest); NAME.json beside NAME.f32 / NAME.i32 "
                   "gives file, shape and dtype", "headers": arrays},
        "graphs": _graphs(tmp, files),
        "postprocess": {"probabilities": "softmax over the logits of one clip (subtract the max logit before exp)",
                        "label": "labels[argmax]", "detection": "report the top label when its probability >= "
                        "thresholds[label] (thresholds.json)"},
        "training": _training(config, step_meta, reference),
        "krr": _krr(core, exports) if exports.get("krr") else None,
        "ort_format": {"tool": ort["tool"], "onnxruntime": ort["onnxruntime"], "optimization_style": ort["optimization_style"],
                       "required_operators_config": ort["config"], "operators": ort["operators"],
                       "what": "each .ort is the .onnx beside it converted for ONNX Runtime Mobile; build a reduced "
                       "runtime with --include_ops_by_config required_operators.config, or use the full "
                       "onnxruntime-android package. Validated here: each .ort run against its .onnx in onnxruntime.",
                       "validation": ort["checks"]},
        "tested": {"here": ["every .onnx/.tflite against torch or the numpy front-end (export validation)",
                            "every .ort against its .onnx in onnxruntime (ort_format.validation)",
                            "a package-free consumer (onnxruntime + numpy + json only) that scores PCM and reproduces "
                            "the reference training run (tests/export/bundle_consumer.py)"],
                   "not_here": ["a real Android phone or ONNX Runtime Mobile's Java/Kotlin API",
                                "a reduced ONNX Runtime build from required_operators.config"]},
    }


def _graphs(tmp: Path, files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from edgedistill.export.ort_format import describe_io

    out = {}
    for key, (stem, words) in GRAPHS.items():
        present = {fmt: f"{stem}.{fmt}" for fmt in ("onnx", "ort", "tflite") if f"{stem}.{fmt}" in files}
        if not present:
            continue
        entry: dict[str, Any] = {"what": words, "files": present, **describe_io(tmp / present["onnx"])}
        if "tflite" in present:
            entry["tflite_signature"] = _tflite_io(tmp / present["tflite"])
        validation = {fmt: files[path].get("validation") for fmt, path in present.items() if files[path].get("validation")}
        if validation:
            entry["validation"] = validation
        details = files[present["onnx"]]
        if details.get("precision"):
            entry["precision"] = details["precision"]
        if "int8" in stem:
            entry["quantization"] = {fmt: _quantization(files[path]) for fmt, path in present.items()}
        out[key] = entry
    return out


def _quantization(entry: dict[str, Any]) -> dict[str, Any]:
    q = {"method": entry.get("int8", "converted from the int8 ONNX file" if entry.get("format") == "ort" else None),
         "io_dtype": entry.get("io_dtype", "float32")}
    for key in ("input_quantization", "output_quantization"):
        if key in entry:
            q[key] = entry[key]  # int8 I/O: real = scale * (q - zero_point)
    return q


def _tflite_io(path: Path) -> dict[str, Any]:
    from edgedistill.export.validate import tflite_signature

    _, inputs, outputs = tflite_signature(path)

    def rows(details):
        return [{"name": name, "shape": [int(s) if s >= 0 else "batch" for s in d["shape_signature"]],
                 "dtype": str(d["dtype"].__name__ if hasattr(d["dtype"], "__name__") else d["dtype"]),
                 **({"scale": float(d["quantization"][0]), "zero_point": int(d["quantization"][1])}
                    if d["quantization"][0] else {})} for name, d in details.items()]

    return {"signature": "serving_default", "inputs": rows(inputs), "outputs": rows(outputs)}


def _training(config, step_meta: Meta, reference: dict[str, Any]) -> dict[str, Any]:
    shapes = step_meta.extra["param_shapes"]
    return {
        "mode": "full: train the whole small network on the device with the train_step graph (no training framework)",
        "graph": "train_step", "inference_graph": "forward",
        "network": {"name": "tcnn", "param_order": step_meta.extra["param_order"], "param_shapes": shapes,
                    "what": "z = (x - mean) / std per feature; conv1d over frames (im2col layout) -> ReLU -> conv1d -> "
                    "ReLU -> mean over frames -> linear -> logits; params holds w1, b1, w2, b2, w3, b3 flattened in "
                    "this order, each row-major"},
        "optimizer": "adam", "adam": {k: step_meta.extra["train_step"][k] for k in ("beta1", "beta2", "eps")},
        "lr": config.lr, "epochs": config.epochs, "batch_size": config.batch_size, "weight_decay": config.weight_decay,
        "seed": config.seed, "data": "coreset/x (features) with coreset/y (label index), or the app's own recordings "
        "through the frontend graph",
        "inputs": {name: STEP_INPUT_WORDS[name] for name in step_meta.extra["step_inputs"]},
        "outputs": {name: STEP_OUTPUT_WORDS[name] for name in step_meta.extra["step_outputs"]},
        "loop": [
            "1. Load X = coreset/x (N, n_features, n_frames) and labels = coreset/y (N,); Y = one-hot of labels (N, n_classes).",
            "2. mean[f] = average of X[:, f, :]; std[f] = max(sqrt(average of (X[:, f, :] - mean[f])^2), 1e-6). "
            "Compute once, before training; keep them with the trained params.",
            "3. params = train/init_params; m = zeros(P); v = zeros(P); step = 0.",
            "4. For each epoch e in 0 .. epochs-1: take the example order (the reference run uses row e of "
            "train/reference_order; any fresh shuffle trains as well); walk it in consecutive batches of batch_size "
            "(the last batch may be smaller).",
            "5. For each batch: step = step + 1; run train_step with x = X[batch], y = Y[batch], mean, std, lr, step, "
            "weight_decay, params, m, v; then params = new_params, m = new_m, v = new_v. loss is the batch's "
            "loss before the update (stop if it is not finite).",
            "6. After the last epoch, classify with the forward graph: features, mean, std, params -> logits.",
        ],
        "reference": {"what": "the result of this loop with reference_order, from edgedistill device train full: an app "
                      "that follows the loop should reach these params to about 1e-4 (float32 rounding)",
                      "params_file": "train/reference_params.f32", **reference},
    }


def _krr(core, exports: dict[str, Any]) -> dict[str, Any]:
    _, nets_meta = exports["krr"]
    return {"graph": "random_features", "n_nets": nets_meta.extra.get("n_nets"),
            "what": "closed-form kernel ridge regression on the coreset: Phi_C = random_features(coreset/x) (M, D); "
            "K = Phi_C Phi_C^T; targets T = coreset/y_soft if present else one-hot(coreset/y) - 1/n_classes; "
            "alpha = (K + reg * mean(diag K) * I)^-1 T (float64, reg 1e-4); W = Phi_C^T alpha (D, n_classes); "
            "logits(x) = random_features(x) W (times a Platt scale; argmax is unaffected)",
            "reg": 1e-4, "learned_labels": core.y_soft is not None}
