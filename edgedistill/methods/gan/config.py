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

from edgedistill.config import DEVICE_HELP, NPROC_HELP, SEED_HELP, THREADS_HELP, Settings, setting

ARCHS = ("gan-cnn", "gan-att")


@dataclass(frozen=True)
class GANConfig(Settings):
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
        ac_flood: flood level of the critic's aux cross-entropy on real clips (Ishida et al. 2020):
            below it the critic's aux term ascends instead of descending, so its class branch
            stops fitting the training clips at a mean CE of ac_flood instead of memorising them.
            0 (the default) disables it. Measured on EmoDB (benchmarks/results/gan_emodb_notes.md):
            without it the CE on real falls to 1e-5 within 1000 steps of 428 clips.
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
            threads (None leaves torch's default). nproc: data-parallel ranks (> 1 re-launches the
            command under torchrun; the run records the world size it ran at). seed: seeds torch
            and numpy.
    """

    arch: str = setting("gan-cnn", "Architecture: gan-cnn (2-D convs) or gan-att (adds dilated convs + self-attention over time).")
    z_dim: int = setting(64, "Noise size (the one-hot label is added to it).")
    width: int | None = setting(None, "Channels of the widest generator/critic layer (default: sized to the data, the widest "
                                      "of 64..8 whose generator takes at most half the training features' bytes).")
    steps: int = setting(2000, "Generator updates.")
    n_critic: int = setting(2, "Critic updates per generator update.")
    batch_size: int = setting(64, "Real and generated samples per step.")
    lr_g: float = setting(2e-4, "Generator Adam learning rate.")
    lr_d: float = setting(2e-4, "Critic Adam learning rate.")
    betas: tuple[float, float] = setting((0.5, 0.9), "Adam betas of generator and critic.", cli=False)
    lambda_gp: float = setting(10.0, "Gradient-penalty weight (paper: 10).")
    lambda_ac: float = setting(1.0, "Auxiliary-classifier cross-entropy weight.")
    lambda_ac_fake: float = setting(0.0, "Weight of the critic's aux cross-entropy on generated batches (paper: 1; "
                                         "default 0, real only).")
    ac_flood: float = setting(0.0, "Flood level of the critic's aux CE on real clips: below it the critic's aux term ascends "
                                   "(0 = off).")
    lambda_fm: float = setting(1.0, "Discriminator feature-matching weight.")
    lambda_sml: float = setting(1.0, "Softmax-matching KL weight (0 = off, no classifier pool).")
    sml_temperature: float = setting(1.0, "Softmax temperature of L_SML.")
    lambda_div: float = setting(1.0, "Diversity-penalty weight (0 = off).")
    div_tau: float = setting(1.0, "Bound tau of the diversity ratio.")
    pool_model: str = setting("cnn4", "Registered model (see `edgedistill models`) whose train_model snapshots fill the "
                                      "L_SML pool.")
    pool_width: int = setting(16, "Width of the pool model.")
    pool_models: int = setting(2, "Downstream classifiers trained on real data for the L_SML pool.")
    pool_epochs: int = setting(10, "Epochs of each pool classifier.")
    pool_every: int = setting(2, "Keep a pool checkpoint every this many epochs.")
    checkpoint_every: int = setting(200, "Save the training state every this many steps (and at the end).", result=False)
    device: str = setting("auto", DEVICE_HELP, result=False)
    threads: int | None = setting(None, THREADS_HELP, result=False)
    nproc: int = setting(1, NPROC_HELP, result=False)
    seed: int = setting(0, SEED_HELP)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"GANConfig.arch: unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}")
        from edgedistill.models import MODELS

        if self.pool_model not in MODELS:
            raise ValueError(f"GANConfig.pool_model: unknown model {self.pool_model!r}; choose one of {', '.join(MODELS)}")
        positive = ("z_dim", "steps", "n_critic", "batch_size", "pool_width", "pool_every", "checkpoint_every", "nproc")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"GANConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.width is not None and int(self.width) < 1:
            raise ValueError(f"GANConfig.width must be >= 1 (or None: sized to the data), got {self.width}")
        for name in ("lambda_gp", "lambda_ac", "lambda_ac_fake", "ac_flood", "lambda_fm", "lambda_sml", "lambda_div", "div_tau", "pool_models", "pool_epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"GANConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.sml_temperature <= 0:
            raise ValueError(f"GANConfig.sml_temperature must be > 0, got {self.sml_temperature}")
        if self.lambda_sml > 0 and (self.pool_models < 1 or self.pool_epochs < self.pool_every):
            raise ValueError("GANConfig: lambda_sml > 0 needs a checkpoint pool: pool_models >= 1 and pool_epochs >= pool_every")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
