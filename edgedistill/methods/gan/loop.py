"""`distill`: train the conditional WGAN-GP generator that replaces a feature set.

One loop, top to bottom (Ritter-Gutierrez et al., Eq. 8): per generator step, `n_critic`
critic updates on Wasserstein + lambda_gp * GP + lambda_ac * (aux CE on real + lambda_ac_fake *
aux CE on generated; the paper has both, the default keeps real only: see `GANConfig`); then
one generator update on the adversarial term + lambda_ac * aux CE + lambda_fm * feature
matching + lambda_sml * L_SML (classifier drawn from the checkpoint pool) + lambda_div * L_DIV
(two noises per label). All randomness comes from torch's global generator, saved in the
checkpoint, so a resumed run continues exactly where it stopped. The history records, besides
the loss terms, the critic's aux CE on the real batch (`ac_real`): it has to fall well below
ln C for the aux term to carry any class signal to the generator. Imports torch.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from edgedistill.data.featureset import FeatureSet
from edgedistill.methods.gan import losses
from edgedistill.methods.gan.architectures import build, default_width, generator_bytes
from edgedistill.methods.gan.artifact import TrainedGenerator, sample
from edgedistill.methods.gan.config import GANConfig
from edgedistill.progress import progress as Progress
from edgedistill.methods.gan.pool import CheckpointPool, accuracy_and_uar, predict
from edgedistill.runtime import resolve_device, seed_everything

CHECKPOINT_FILE = "state.pt"


class GeneratorSizeWarning(UserWarning):
    """The generator is not smaller than the training features it is meant to replace."""


def size_generator(train: FeatureSet, config: GANConfig) -> tuple[GANConfig, int, int]:
    """(config with its width resolved, generator bytes, training feature bytes).

    A width of None is sized to the data (`architectures.default_width`). Warns with
    `GeneratorSizeWarning` when the generator is not smaller than the float32 features.
    """
    shape = tuple(train.config.shape)
    feature_bytes = int(len(train) * np.prod(shape) * 4)
    if config.width is None:
        config = config.replace(width=default_width(config.arch, train.n_classes, shape, config.z_dim, feature_bytes))
    size = generator_bytes(config.arch, train.n_classes, shape, config.z_dim, config.width)
    if size >= feature_bytes:
        warnings.warn(f"the generator ({size / 1e6:.2f} MB at width {config.width}) is not smaller than the {len(train)} "
                      f"training clips' features it replaces ({feature_bytes / 1e6:.2f} MB): keeping the features is "
                      "cheaper; lower --width or --z-dim, or distil more data", GeneratorSizeWarning, stacklevel=3)
    return config, size, feature_bytes


def distill(train: FeatureSet, config: GANConfig | None = None, *, progress: bool = True, valid: FeatureSet | None = None,
            checkpoint: str | Path | None = None, resume: bool = False) -> TrainedGenerator:
    """Train a generator on `train` and return it (save it with `artifact.save_generator`).

    checkpoint: a directory for the training state (written every `checkpoint_every` steps and
    at the end); resume: continue from the state there (config may differ only in `steps`).
    config.width None is sized to `train` and the artifact records the width chosen; a
    generator not smaller than the training features warns (`GeneratorSizeWarning`).
    valid: when given, the critic's auxiliary classifier is scored on it (aux_valid_uar).
    """
    config = config or GANConfig()
    if len(train) < 2 or train.n_classes < 2:
        raise ValueError(f"GAN distillation needs at least 2 clips and 2 classes; got {len(train)} clips, {train.n_classes} classes")
    empty = [train.labels[c] for c in np.flatnonzero(train.class_counts() == 0)]
    if empty:
        raise ValueError(f"GAN distillation: class(es) {', '.join(empty)} have no training clips; every class needs some")
    config, _, _ = size_generator(train, config)
    device = resolve_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    x = torch.as_tensor(np.asarray(train.x, dtype=np.float32)).to(device)
    y = torch.as_tensor(train.y).to(device)
    n_classes = train.n_classes
    builder_kwargs = {"n_classes": n_classes, "input_shape": tuple(train.config.shape), "z_dim": config.z_dim, "width": config.width}
    generator, critic = build(config.arch, **builder_kwargs)
    generator.norm.set_stats(x.cpu())
    critic.norm.set_stats(x.cpu())
    generator.to(device)
    critic.to(device)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=config.betas)
    opt_d = torch.optim.Adam(critic.parameters(), lr=config.lr_d, betas=config.betas)

    state_path = Path(checkpoint) / CHECKPOINT_FILE if checkpoint else None
    start, history, pool_checkpoints = 0, [], None
    if not resume and state_path is not None and state_path.exists():
        raise ValueError(f"{state_path} already holds a training state: pass --resume to continue it, or choose a new checkpoint directory")
    if resume:
        if state_path is None or not state_path.exists():
            raise ValueError(f"--resume: no training state at {state_path or '(no checkpoint directory given)'}; run without --resume first")
        saved = torch.load(state_path, map_location="cpu", weights_only=True)
        _check_resumable(saved, config, train, state_path)
        generator.load_state_dict(saved["generator"])
        critic.load_state_dict(saved["critic"])
        opt_g.load_state_dict(saved["opt_g"])
        opt_d.load_state_dict(saved["opt_d"])
        start, history, pool_checkpoints = int(saved["step"]), list(saved["history"]), saved["pool"]
    pool = None
    if config.lambda_sml > 0:
        pool_kwargs = {"width": config.pool_width}
        if pool_checkpoints is None:
            pool = CheckpointPool.train(train.x, train.y, list(train.labels), model=config.pool_model, model_kwargs=pool_kwargs,
                                        models=config.pool_models, epochs=config.pool_epochs, every=config.pool_every,
                                        seed=config.seed, device=device, threads=config.threads)
        else:
            pool = CheckpointPool(config.pool_model, pool_kwargs, n_classes, tuple(train.config.shape), pool_checkpoints, device)
    torch.manual_seed(config.seed + 1)
    if resume:
        torch.set_rng_state(saved["rng"])
        if device.type == "cuda" and saved.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(saved["cuda_rng"])

    eye = torch.eye(n_classes, device=device)
    bar = Progress(config.steps, "gan", start=start, enabled=progress).__enter__()
    for step in range(start, config.steps):
        generator.train()
        critic.train()
        for _ in range(config.n_critic):
            index = torch.randint(len(x), (config.batch_size,), device=device)
            real, labels = x[index], y[index]
            with torch.no_grad():
                fake = generator(torch.randn(len(index), config.z_dim, device=device), eye[labels])
            real_score, real_logits, _ = critic(real)
            fake_score, fake_logits, _ = critic(fake)
            gp = losses.gradient_penalty(lambda v: critic(v)[0], real, fake)
            ac_real = losses.auxiliary_ce(real_logits, labels)
            loss_d = (losses.wasserstein_critic(real_score, fake_score) + config.lambda_gp * gp
                      + config.lambda_ac * (ac_real + config.lambda_ac_fake * losses.auxiliary_ce(fake_logits, labels)))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()

        index = torch.randint(len(x), (config.batch_size,), device=device)
        real, labels = x[index], y[index]
        z1 = torch.randn(len(index), config.z_dim, device=device)
        fake = generator(z1, eye[labels])
        fake_score, fake_logits, fake_embedding = critic(fake)
        with torch.no_grad():
            _, _, real_embedding = critic(real)
        terms = {"adv": losses.wasserstein_generator(fake_score), "ac": losses.auxiliary_ce(fake_logits, labels),
                 "fm": losses.feature_matching(real_embedding, fake_embedding)}
        loss_g = terms["adv"] + config.lambda_ac * terms["ac"] + config.lambda_fm * terms["fm"]
        if pool is not None:
            classifier = pool.draw()
            terms["sml"] = losses.softmax_matching(classifier(real), classifier(fake), config.sml_temperature)
            loss_g = loss_g + config.lambda_sml * terms["sml"]
        if config.lambda_div > 0:
            z2 = torch.randn_like(z1)
            terms["div"] = losses.diversity(fake, generator(z2, eye[labels]), z1, z2, config.div_tau)
            loss_g = loss_g + config.lambda_div * terms["div"]
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()

        record = {"step": step + 1, "loss_d": loss_d.item(), "gp": gp.item(), "ac_real": ac_real.item(), "loss_g": loss_g.item(),
                  **{k: v.item() for k, v in terms.items()}}
        if (step + 1) % max(1, config.steps // 50) == 0 or step + 1 == config.steps:
            history.append(record)
        bar.update(step + 1, **{k: v for k, v in record.items() if k in ("loss_d", "loss_g", "sml", "div")})
        if state_path is not None and ((step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps):
            _save_state(state_path, config, train, generator, critic, opt_g, opt_d, step + 1, history, pool, device)
    bar.__exit__(None, None, None)

    generator.eval().cpu()
    trained = TrainedGenerator(
        module=generator, arch=config.arch, builder_kwargs=builder_kwargs, labels=list(train.labels), config=train.config,
        class_prior=train.class_counts() / len(train), gan_config=config.to_dict(),
        source_manifest_hash=train.manifest_hash(), history=history,
    )
    trained.metrics = _end_metrics(trained, critic.eval(), pool, valid, config.seed, device)
    return trained


def _end_metrics(trained: TrainedGenerator, critic: torch.nn.Module, pool: CheckpointPool | None,
                 valid: FeatureSet | None, seed: int, device: torch.device) -> dict[str, Any]:
    """Cheap figures: pool classifiers' UAR on generated samples; the critic's aux UAR on `valid`."""
    metrics: dict[str, Any] = {}
    if pool is not None:
        xg, yg = sample(trained, 20, seed=seed)
        pool.model.load_state_dict(pool.checkpoints[-1])  # the last checkpoint: the best-trained classifier
        uar = accuracy_and_uar(yg, predict(pool.model, xg).argmax(1), trained.n_classes)["uar"]
        metrics["pool_uar_on_generated"] = uar
    if valid is not None and len(valid):
        with torch.no_grad():
            logits = torch.cat([critic(torch.as_tensor(np.asarray(valid.x[i:i + 256], dtype=np.float32)).to(device))[1].cpu()
                                for i in range(0, len(valid), 256)])
        metrics["aux_valid_uar"] = accuracy_and_uar(valid.y, logits.argmax(1).numpy(), trained.n_classes)["uar"]
    return metrics


def _save_state(path: Path, config: GANConfig, train: FeatureSet, generator, critic, opt_g, opt_d, step: int,
                history: list, pool: CheckpointPool | None, device: torch.device) -> None:
    """Write the full training state (weights, optimisers, RNG, pool) atomically; tensors only, no pickle of objects."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"config": {k: v for k, v in config.to_dict().items() if k != "steps"}, "feature_id": train.feature_id,
             "manifest": train.manifest_hash(), "step": step, "history": history,
             "generator": generator.state_dict(), "critic": critic.state_dict(),
             "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "rng": torch.get_rng_state(),
             "cuda_rng": torch.cuda.get_rng_state() if device.type == "cuda" else None,
             "pool": pool.checkpoints if pool is not None else None}
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _check_resumable(saved: dict, config: GANConfig, train: FeatureSet, path: Path) -> None:
    if saved["feature_id"] != train.feature_id or saved["manifest"] != train.manifest_hash():
        raise ValueError(f"{path}: the checkpoint was trained on other data (features {saved['feature_id']}); "
                         "resume with the same feature set")
    if "lambda_ac_fake" not in saved["config"]:
        raise ValueError(f"{path}: the checkpoint predates the two-branch critic (no lambda_ac_fake in its config); "
                         "its critic weights do not fit the current critic: start a new run in a new checkpoint directory")
    config.check_resume(saved["config"], f"checkpoint {path}", also_free=("steps",))
    if int(saved["step"]) > config.steps:
        raise ValueError(f"{path}: the checkpoint is at step {saved['step']}, past --steps {config.steps}")
