"""cnn4 on real FSDD features (../shared/data/fsdd, official split) reaches >= 90 % test accuracy.

Slow-marked: reading and resampling 3000 clips and training 4 epochs takes ~1-2 min of CPU."""

import importlib.util

import pytest

pytest.importorskip("torch")
pytest.importorskip("scipy")


def benchmark_module(root):
    spec = importlib.util.spec_from_file_location("train_models_benchmark", root / "benchmarks" / "train_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_cnn4_reaches_90_percent_on_fsdd(shared_data):
    from pathlib import Path

    from edgedistill.evaluate import evaluate_model
    from edgedistill.training import TrainConfig, train_model

    if not (shared_data / "fsdd" / "labels.csv").exists():
        pytest.skip(f"FSDD not found at {shared_data / 'fsdd'}")
    feats = benchmark_module(Path(__file__).resolve().parents[1]).load_fsdd(shared_data / "fsdd", split="official")
    train, test = feats.by_split("train"), feats.by_split("test")
    assert (len(train), len(test)) == (2700, 300)
    trained = train_model("cnn4", train.x, train.y, feats.labels, TrainConfig(epochs=4, batch_size=32, threads=1, device="cpu"),
                          model_kwargs={"width": 16}, progress=False)
    metrics = evaluate_model(trained, test.x, test.y)
    assert metrics["accuracy"] >= 0.90, metrics["accuracy"]
