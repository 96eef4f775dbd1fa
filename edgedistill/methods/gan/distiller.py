"""`edgedistill distill gan`: the generator distiller (conditional WGAN-GP + L_SML + L_DIV) as a
registered `Distiller`, with its input options (`GANInputs`: which features, which split,
where the checkpoint lives). The training state (OUT.ckpt/ by default) is removed after success.
Torch is imported inside `run`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedistill.config import Settings, setting
from edgedistill.methods.distiller import refuse_existing, split_train_valid, training_splits
from edgedistill.methods.gan.config import GANConfig
from edgedistill.progress import say

INPUTS = ("feature-set", "hubert")


@dataclass(frozen=True)
class GANInputs(Settings):
    """What the generator is trained on (not part of the generator's own settings)."""

    input: str = setting("feature-set", "feature-set (the MFCC/log-mel maps in FEAT) or hubert (frame features of a local "
                                        "HuBERT, computed from the clips' audio once and cached).")
    ssl_weights: Path | None = setting(None, "With --input hubert: local folder of HuBERT weights (config.json + weights); "
                                             "nothing is downloaded.")
    ssl_layer: int = setting(9, "With --input hubert: transformer layer to take (0 = CNN front-end).")
    audio_root: Path | None = setting(None, "With --input hubert: folder the feature set's item paths are relative to.")
    split: str = setting("train", "Split of the feature set to distil ('all' = every clip).")
    valid_split: str = setting("valid", "Split to score the critic's classifier on ('' = none).")
    checkpoint: Path | None = setting(None, "Directory for the training state (default: OUT.ckpt; removed after success).")

    def __post_init__(self) -> None:
        if self.input not in INPUTS:
            raise ValueError(f"--input {self.input!r}: choose one of {', '.join(INPUTS)}")


class GANDistiller:
    name = "gan"
    summary = "Train a conditional WGAN-GP generator (with L_SML and L_DIV) that replaces the feature set."
    description = ("Once trained, `edgedistill sample GEN` draws any budget per class, balanced or following the real "
                   "class prior. A stopped run continues with --resume (only --steps and the settings that cannot change "
                   "the result may differ).")
    config_type = GANConfig
    inputs_type = GANInputs

    def run(self, feat: Path, out: Path, config: GANConfig, inputs: GANInputs, *, resume: bool,
            progress: bool) -> dict[str, Any]:
        from edgedistill.methods.gan.artifact import save_generator
        from edgedistill.methods.gan.loop import distill

        from edgedistill import distributed

        refuse_existing(out)
        data, train, valid = training_splits(feat, inputs.split, inputs.valid_split)
        distributed.setup(config.device)  # joins torchrun's group (a no-op in one process)
        main = distributed.is_main()
        if inputs.input == "hubert":
            if not main:
                distributed.barrier()  # rank 0 computes and caches the SSL features; the others read its cache
            data = _hubert(data, feat, inputs, config.device)
            if main:
                distributed.barrier()
            train, valid = split_train_valid(data, inputs.split, inputs.valid_split)
        checkpoint = inputs.checkpoint or out.with_name(out.name + ".ckpt")
        say(f"distilling {len(train)} clips ({train.n_classes} classes, features {train.config.shape}) with {config.arch}",
            progress and main)
        gen = distill(train, config, progress=progress, valid=valid, checkpoint=checkpoint, resume=resume)
        data_bytes = int(train.x.shape[0] * train.x[0].nbytes)
        path = out
        if main:  # under torchrun every rank holds the same generator; rank 0 writes it
            path = save_generator(out, gen, seed=config.seed, extra={"train_split": inputs.split,
                                                                     "train_feature_bytes": data_bytes})
            shutil.rmtree(checkpoint, ignore_errors=True)
        return {"out": str(path), "arch": config.arch, "steps": config.steps, "n_train": len(train),
                "generator_bytes": gen.size_bytes(), "train_feature_bytes": data_bytes, **gen.metrics}


def _hubert(data, feat: Path, inputs: GANInputs, device: str):
    """The feature set with HuBERT layer features of its clips (cached beside FEAT)."""
    from edgedistill.methods.gan.ssl import load_hubert, read_clip, ssl_featureset

    weights = inputs.ssl_weights
    if weights is None or not (Path(weights) / "config.json").is_file():
        load_hubert(weights)  # raises the message that says where the weights must come from
    if inputs.audio_root is None:
        raise ValueError("--input hubert needs --audio-root: the folder the feature set's item paths are relative to")
    waves = [read_clip(Path(inputs.audio_root) / path, data.config.sample_rate) for path in data.path]
    return ssl_featureset(data, waves, weights, layer=inputs.ssl_layer, cache_dir=feat.parent / f"{feat.name}.ssl-cache",
                          device=device)


DISTILLER = GANDistiller()
