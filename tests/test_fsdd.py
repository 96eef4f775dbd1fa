"""cnn4 on real FSDD features (../shared/data/fsdd, official split) reaches >= 90 % test accuracy.

Runs in the default test run (about half a minute of CPU): features through the data layer's
`prepare`, cnn4 width 16 for 4 epochs. Skips with a reason when the shared data is absent.
"""

import pytest

pytest.importorskip("torch")


def test_cnn4_reaches_90_percent_on_fsdd(shared_data, tmp_path):
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.data.prepare import prepare
    from edgedistill.evaluate import evaluate_model
    from edgedistill.training import TrainConfig, train_model

    if not (shared_data / "fsdd").is_dir():
        pytest.skip(f"FSDD not found at {shared_data / 'fsdd'}")
    feats = FeatureSet.load(prepare("fsdd", shared_data / "fsdd", "kws", tmp_path / "fsdd", progress=False))
    train, test = feats.by_split("train"), feats.by_split("test")
    assert len(test) == 300 and len(train) >= 2000
    trained = train_model("cnn4", train.x, train.y, feats.labels, TrainConfig(min_steps=0, epochs=4, batch_size=32, device="cpu"),
                          model_kwargs={"width": 16}, progress=False)
    metrics = evaluate_model(trained, test.x, test.y)
    assert metrics["accuracy"] >= 0.90, metrics["accuracy"]
