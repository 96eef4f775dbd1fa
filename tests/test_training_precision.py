"""bf16 autocast in `train_model` (TrainConfig.precision): the training loss stays within a stated
tolerance of float32. Tested on the CPU with torch's CPU bf16 autocast, the autocast that
precision "auto" turns on for CUDA; auto stays float32 on the CPU."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgedistill.runtime import resolve_precision  # noqa: E402
from edgedistill.training import TrainConfig, train_model  # noqa: E402

BF16_LOSS_RTOL = 2e-2  # relative change of the epochs' mean training loss from bf16 autocast (measured ~2e-3)
CONFIG = TrainConfig(min_steps=0, epochs=2, batch_size=16, threads=1, device="cpu", augment=False)


def losses(train, labels, precision: str) -> np.ndarray:
    model = train_model("cnn4", train.x, train.y, labels, CONFIG.replace(precision=precision),
                        model_kwargs={"width": 8}, progress=False)
    return np.array([record["loss"] for record in model.history])


def test_bf16_training_loss_within_tolerance_of_fp32(toy_featureset):
    train = toy_featureset.by_split("train")
    train = train.subset(np.arange(0, len(train), max(1, len(train) // 32)))  # ~32 clips: seconds, not minutes
    reference = losses(train, toy_featureset.labels, "fp32")
    bf16 = losses(train, toy_featureset.labels, "bf16")
    assert not np.array_equal(bf16, reference)  # autocast really ran
    np.testing.assert_allclose(bf16, reference, rtol=BF16_LOSS_RTOL)


def test_precision_is_checked():
    assert resolve_precision("auto", "cuda") == "bf16" and resolve_precision("auto", "cpu") == "fp32"
    with pytest.raises(ValueError, match="precision='fp16' \\(choose one of auto, fp32, bf16\\)"):
        TrainConfig(precision="fp16")
