"""`GANConfig`: every setting of the generator distiller, as one frozen dataclass.

The loss weights follow Ritter-Gutierrez et al. (Eq. 1-8): critic = Wasserstein + lambda_gp * GP
+ lambda_ac * aux CE; generator = adversarial + lambda_ac * aux CE + lambda_fm * feature matching
+ lambda_sml * L_SML + lambda_div * L_DIV. Round-trips to a dict (written into the artifact);
unknown keys are an error. stdlib and the (torch-free) model registry only: must not import torch
or numpy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

ARCHS = ("gan-cnn", "gan-att")


@dataclass(frozen=True)
class GANConfig:
    """Settings of `edgedistill.methods.gan.loop.distill`.

    Attributes:
        arch: generator/critic family, "gan-cnn" (2-D convolutions) or "gan-att" (adds dilated
            convolutions and one self-attention over time to the generator).
        z_dim: size of the noise vector e ~ N(0, I) (the one-hot label is concatenated to it).
        width: channels of the widest generator/critic layer (layers halve from there). None
            (the default) sizes it to the data: the widest of 64, 48, 32, 24, 16, 12, 8 whose
            generator takes at most half the bytes of the training features it replaces
            (`architectures.default_width`); `distill` records the width it chose.
        steps: generator updates. n_critic: critic updates per generator update.
        batch_size: real (and generated) samples per step.
        lr_g / lr_d / betas: Adam settings of generator and critic (WGAN-GP defaults).
        lambda_gp: gradient-penalty weight (lambda1 = 10 in the paper).
        lambda_ac: weight of the auxiliary-classifier cross-entropy (critic and generator).
        lambda_ac_fake: weight, inside the critic's aux term, of the cross-entropy on generated
            batches (the paper's Eq. 3 has 1: real and generated). Default 0, real only, as
            Gulrajani et al.'s AC-WGAN-GP: with it at 1 the class branch learns to read the
            generator's own label cues (generator aux CE 0.07 while the critic's UAR on real
            held-out clips stays 0.16 after 200 steps on the synthesised keywords), so the
            generator is told its samples are right when they are not.
        lambda_fm: weight of the discriminator feature-matching term.
        lambda_sml: weight of the softmax-matching KL L_SML (0 disables it and the pool).
        sml_temperature: softmax temperature of L_SML.
        lambda_div: weight of the diversity penalty L_DIV (0 disables it). div_tau: its bound tau.
        pool_model / pool_width: the registered model (`edgedistill.models`, e.g. "cnn4") and
            its width that fill the L_SML checkpoint pool, trained with `train_model`.
        pool_models: downstream classifiers trained on the real data to fill the checkpoint
            pool; pool_epochs: epochs of each; pool_every: keep a checkpoint every this many
            epochs (each model contributes pool_epochs // pool_every checkpoints).
        checkpoint_every: with a checkpoint directory, save the training state every this
            many generator steps (and at the end).
        device: "auto" (CUDA when present), "cpu", "cuda" or "cuda:N". threads: torch CPU
            threads (None leaves torch's default). seed: seeds torch and numpy.
    """

    arch: str = "gan-cnn"
    z_dim: int = 64
    width: int | None = None
    steps: int = 2000
    n_critic: int = 2
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.9)
    lambda_gp: float = 10.0
    lambda_ac: float = 1.0
    lambda_ac_fake: float = 0.0
    lambda_fm: float = 1.0
    lambda_sml: float = 1.0
    sml_temperature: float = 1.0
    lambda_div: float = 1.0
    div_tau: float = 1.0
    pool_model: str = "cnn4"
    pool_width: int = 16
    pool_models: int = 2
    pool_epochs: int = 10
    pool_every: int = 2
    checkpoint_every: int = 200
    device: str = "auto"
    threads: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"GANConfig.arch: unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}")
        from edgedistill.models import MODELS

        if self.pool_model not in MODELS:
            raise ValueError(f"GANConfig.pool_model: unknown model {self.pool_model!r}; choose one of {', '.join(MODELS)}")
        positive = ("z_dim", "steps", "n_critic", "batch_size", "pool_width", "pool_every", "checkpoint_every")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"GANConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.width is not None and int(self.width) < 1:
            raise ValueError(f"GANConfig.width must be >= 1 (or None: sized to the data), got {self.width}")
        for name in ("lambda_gp", "lambda_ac", "lambda_ac_fake", "lambda_fm", "lambda_sml", "lambda_div", "div_tau", "pool_models", "pool_epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"GANConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.sml_temperature <= 0:
            raise ValueError(f"GANConfig.sml_temperature must be > 0, got {self.sml_temperature}")
        if self.lambda_sml > 0 and (self.pool_models < 1 or self.pool_epochs < self.pool_every):
            raise ValueError("GANConfig: lambda_sml > 0 needs a checkpoint pool: pool_models >= 1 and pool_epochs >= pool_every")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["betas"] = list(self.betas)
        return {"type": "GANConfig", **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GANConfig":
        data = {k: v for k, v in data.items() if k != "type"}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"GANConfig: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if "betas" in data:
            data["betas"] = tuple(data["betas"])
        return cls(**data)

    def replace(self, **changes: Any) -> "GANConfig":
        return dataclasses.replace(self, **changes)
