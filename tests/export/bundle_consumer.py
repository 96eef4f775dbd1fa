"""A bundle consumer that knows nothing of edgedistill: only onnxruntime, numpy, json and the stdlib.

It does what an app would do with nothing but the bundle folder and its bundle.json:
  1. score clips of raw 16-bit PCM with the classify_audio graph (front-end inside), ORT format;
  2. run the training loop exactly as bundle.json's "training" section describes, with the
     train_step graph in ORT format, on the coreset arrays read through their JSON headers;
  3. classify the coreset with the forward graph and the trained params.
Writes a JSON report (scores, losses, trained params) to OUT.

usage: python bundle_consumer.py BUNDLE_DIR PCM_FILE OUT_JSON
PCM_FILE: raw little-endian int16 mono samples, clips of bundle.json audio.clip_samples back to back.
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort


def read_array(bundle: Path, header_path: str) -> np.ndarray:
    """An array from its JSON header (file, shape, dtype; little-endian, C order)."""
    header = json.loads((bundle / header_path).read_text())
    dtype = {"float32": "<f4", "int32": "<i4"}[header["dtype"]]
    data = np.frombuffer((bundle / header_path).with_name(header["file"]).read_bytes(), dtype=dtype)
    return data.reshape(header["shape"])


def session(bundle: Path, path: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(bundle / path), options, providers=["CPUExecutionProvider"])


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def score_pcm(bundle: Path, spec: dict, pcm_file: Path) -> dict:
    clip = spec["audio"]["clip_samples"]
    samples = np.frombuffer(pcm_file.read_bytes(), dtype="<i2").astype(np.float32) / 32768.0
    clips = samples.reshape(-1, clip)
    graph = spec["graphs"]["classify_audio"]
    sess = session(bundle, graph["files"]["ort"])
    logits = sess.run([graph["outputs"][0]["name"]], {graph["inputs"][0]["name"]: clips})[0]
    probs = softmax(logits)
    labels = (bundle / spec["labels_file"]).read_text().splitlines()
    thresholds = json.loads((bundle / spec["thresholds_file"]).read_text())["thresholds"]
    best = probs.argmax(axis=1)
    return {"logits": logits.tolist(), "labels": [labels[i] for i in best],
            "detections": [labels[i] if probs[n, i] >= thresholds[labels[i]] else None for n, i in enumerate(best)]}


def train(bundle: Path, spec: dict) -> dict:
    training = spec["training"]
    x = read_array(bundle, "coreset/x.json").astype(np.float32)
    labels = read_array(bundle, "coreset/y.json")
    n_classes = len(spec["labels"])
    targets = np.eye(n_classes, dtype=np.float32)[labels]
    # loop step 2: per-feature mean and population std over examples and frames, std floored at 1e-6
    mean = x.astype(np.float64).mean(axis=(0, 2)).astype(np.float32)
    std = np.maximum(x.astype(np.float64).std(axis=(0, 2)), 1e-6).astype(np.float32)
    # loop step 3
    params = read_array(bundle, "train/init_params.json").astype(np.float32).copy()
    m, v = np.zeros_like(params), np.zeros_like(params)
    order = read_array(bundle, "train/reference_order.json")
    step_graph = spec["graphs"][training["graph"]]
    sess = session(bundle, step_graph["files"]["ort"])
    names = [o["name"] for o in step_graph["outputs"]]
    one = lambda value: np.array([value], dtype=np.float32)  # noqa: E731
    step, history = 0, []
    for epoch in range(training["epochs"]):  # loop step 4
        losses = []
        for start in range(0, len(x), training["batch_size"]):
            batch = order[epoch, start:start + training["batch_size"]]
            step += 1  # loop step 5
            feed = {"x": x[batch], "y": targets[batch], "mean": mean, "std": std, "lr": one(training["lr"]),
                    "step": one(step), "weight_decay": one(training["weight_decay"]), "params": params, "m": m, "v": v}
            out = dict(zip(names, sess.run(names, {name: feed[name] for name in training["inputs"]})))
            loss = float(out["loss"][0])
            if not np.isfinite(loss):
                raise SystemExit(f"loss became {loss} at step {step}")
            params, m, v = out["new_params"], out["new_m"], out["new_v"]
            losses.append(loss)
        history.append(float(np.mean(losses)))
    # loop step 6: the forward graph with the trained params
    forward = spec["graphs"][training["inference_graph"]]
    fsess = session(bundle, forward["files"]["ort"])
    logits = fsess.run(None, {"features": x, "mean": mean, "std": std, "params": params})[0]
    return {"params": params.tolist(), "mean": mean.tolist(), "std": std.tolist(), "epoch_mean_loss": history,
            "steps": step, "train_accuracy": float(np.mean(logits.argmax(axis=1) == labels))}


def main(argv: list) -> None:
    bundle, pcm_file, out = Path(argv[0]), Path(argv[1]), Path(argv[2])
    spec = json.loads((bundle / "bundle.json").read_text())
    report = {"scores": score_pcm(bundle, spec, pcm_file), "training": train(bundle, spec),
              "modules": sorted(name for name, module in sys.modules.items()
                          if module is not None and name.split(".")[0] in ("edgedistill", "torch"))}
    out.write_text(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
