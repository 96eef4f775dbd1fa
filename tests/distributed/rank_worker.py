"""One rank of a distributed test run, started by torchrun (not a test module).

    python -m torch.distributed.run --nproc-per-node 2 rank_worker.py KIND FEAT CONFIG_JSON OUT_NPZ [CHECKPOINT]

KIND: rfad (CONFIG_JSON an RFADConfig), train (a TrainConfig; cnn4 without dropout) or gan (a GANConfig;
an existing CHECKPOINT state is resumed). Runs the library call under torchrun's process group; rank 0 writes OUT_NPZ.
"""

import json
import sys

import numpy as np
import torch

from edgedistill import distributed
from edgedistill.data.featureset import FeatureSet

TRAIN_MODEL = {"width": 4, "dropout": 0.0}  # dropout masks are drawn per rank: off for an equality test


def main() -> None:
    kind, feat, config_json, out = sys.argv[1:5]
    checkpoint = sys.argv[5] if len(sys.argv) > 5 else None
    torch.set_num_threads(1)
    data = FeatureSet.load(feat)
    train = data.by_split("train")  # no valid split: the result is the last step's coreset, not the best one
    if kind == "rfad":
        from edgedistill.methods.rfad import RFADConfig, distill

        coreset = distill(train, RFADConfig.from_dict(json.loads(config_json)), progress=False, checkpoint=checkpoint)
        arrays = {"x": coreset.x, "world_size": np.array(distributed.world_size()),
                  "losses": np.array([r["loss"] for r in coreset.meta.extra["history"] if "loss" in r])}
    elif kind == "train":
        from edgedistill.train_config import TrainConfig
        from edgedistill.training import train_model

        trained = train_model("cnn4", np.asarray(train.x), train.y, train.labels,
                              TrainConfig.from_dict(json.loads(config_json)), model_kwargs=TRAIN_MODEL, progress=False,
                              checkpoint=checkpoint, resume=checkpoint is not None)
        arrays = {f"param.{k}": v.numpy() for k, v in trained.module.state_dict().items()}
        arrays.update(world_size=np.array(distributed.world_size()), losses=np.array([h["loss"] for h in trained.history]))
    elif kind == "gan":
        from pathlib import Path

        from edgedistill.methods.gan.config import GANConfig
        from edgedistill.methods.gan.loop import CHECKPOINT_FILE, distill

        resume = checkpoint is not None and (Path(checkpoint) / CHECKPOINT_FILE).exists()
        gen = distill(train, GANConfig.from_dict(json.loads(config_json)), progress=False, checkpoint=checkpoint,
                      resume=resume)
        arrays = {f"param.{k}": v.numpy() for k, v in gen.module.state_dict().items()}
        arrays.update(world_size=np.array(distributed.world_size()), loss_g=np.array([h["loss_g"] for h in gen.history]),
                      loss_d=np.array([h["loss_d"] for h in gen.history]))
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    if distributed.is_main():
        np.savez(out, **arrays)


if __name__ == "__main__":
    main()
