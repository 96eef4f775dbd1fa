"""`distill`: train the conditional WGAN-GP generator that replaces a feature set.

One loop, top to bottom (Ritter-Gutierrez et al., Eq. 8): per generator step, `n_critic`
critic updates on Wasserstein + lambda_gp * GP + lambda_ac * (aux CE on real, flooded at
`ac_flood` when set, + lambda_ac_fake *
aux CE on generated; the paper has both, the default keeps real only: see `GANConfig`); then
one generator update on the adversarial term + lambda_ac * aux CE + lambda_fm * feature
matching + lambda_sml * L_SML (classifier drawn from the checkpoint pool) + lambda_div * L_DIV
(two noises per label). All randomness comes from torch's global generator, saved in the
checkpoint, so a resumed run continues exactly where it stopped. The history records, besides
the loss terms, the critic's aux CE on the real batch (`ac_real`): it has to fall well below
ln C for the aux term to carry any class signal to the generator.

Under torch.distributed (torchrun, `--nproc N`) the loop is data-parallel with the gradient-sum
rule RFAD uses: every rank draws the same global batch, noise and interpolation weights from the
same RNG stream (seeded alike, restored alike on resume) and computes the losses of its
contiguous share of the rows, weighted by its share of the batch, so the ranks' gradients,
summed by one all-reduce per update, are the gradient of the global batch's loss. The
generator's batch-norm layers take their statistics over the global batch (RankBatchNorm on CPU,
SyncBatchNorm on CUDA); feature matching compares the global batch's mean embeddings. The L_SML
pool is trained once (classifier k by rank k % world) and broadcast, so every rank draws from
the same checkpoints. Rank 0 alone writes the training state. Convolution biases that feed a
batch norm (exact gradient zero) are frozen: Adam would step them on rounding noise alone, by the
full learning rate, differently at every thread count or world size. Imports torch.
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
from edgedistill.methods.gan.architectures import batchnorm_cancelled, build, default_width, generator_bytes
from edgedistill.methods.gan.artifact import TrainedGenerator, sample
from edgedistill.methods.gan.config import GANConfig
from edgedistill.progress import progress as Progress
from edgedistill.methods.gan.pool import CheckpointPool, accuracy_and_uar, predict
from edgedistill.runtime import seed_everything

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
    from edgedistill import distributed

    config, _, _ = size_generator(train, config)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = distributed.setup(config.device)
    world, main = distributed.world_size(), distributed.is_main()
    if config.batch_size < world:
        raise ValueError(f"GAN batch_size {config.batch_size} is smaller than the {world} processes; "
                         "each process needs at least one sample per step")
    progress = progress and main
    config = config.replace(nproc=world)
    seed_everything(config.seed)
    y = torch.as_tensor(train.y).to(device)

    def clips(index: torch.Tensor) -> torch.Tensor:
        """The training clips at `index`, read from the cache on demand (never the whole set)."""
        return torch.as_tensor(np.asarray(train.x[index.cpu().numpy()], dtype=np.float32)).to(device)
    n_classes = train.n_classes
    builder_kwargs = {"n_classes": n_classes, "input_shape": tuple(train.config.shape), "z_dim": config.z_dim, "width": config.width}
    generator, critic = build(config.arch, **builder_kwargs)
    generator.norm.set_stats(train.x)
    critic.norm.mean.copy_(generator.norm.mean)  # one pass over the cache's rows is enough
    critic.norm.std.copy_(generator.norm.std)
    generator.to(device)
    critic.to(device)
    for bias in batchnorm_cancelled(generator):  # zero exact gradient: no Adam steps on rounding noise
        bias.requires_grad_(False)
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
    distributed.barrier()  # every rank has read the state before rank 0 replaces it
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
    batch = config.batch_size
    # this rank's rows of every global batch, and its share of the batch (the weight of its row means)
    rows = torch.as_tensor(distributed.shard(np.arange(batch)), device=device)
    share = len(rows) / batch
    net_g = _rank_synced(generator, device, world)
    bar = Progress(config.steps, "gan", start=start, enabled=progress).__enter__()
    for step in range(start, config.steps):
        net_g.train()
        critic.train()
        for _ in range(config.n_critic):
            # the global batch, noise and GP weights, drawn alike on every rank; this rank's rows of them
            index = torch.randint(len(train), (batch,), device=device)
            noise = torch.randn(batch, config.z_dim, device=device)
            alpha = torch.rand(batch, device=device, dtype=torch.float32)
            index, noise, alpha = index[rows], noise[rows], alpha[rows]
            real, labels = clips(index), y[index]
            with torch.no_grad():
                fake = net_g(noise, eye[labels])
            real_score, real_logits, _ = critic(real)
            fake_score, fake_logits, _ = critic(fake)
            gp = losses.gradient_penalty(lambda v: critic(v)[0], real, fake, alpha)
            ac_real = losses.auxiliary_ce(real_logits, labels)
            ac_term = ac_real
            if config.ac_flood > 0:  # the global batch's CE decides the side of the flood level
                global_ac = ac_real.detach() * share
                distributed.all_reduce_([global_ac])
                ac_term = losses.flooded(ac_real, config.ac_flood, global_ac)
            loss_d = (losses.wasserstein_critic(real_score, fake_score) + config.lambda_gp * gp
                      + config.lambda_ac * (ac_term + config.lambda_ac_fake * losses.auxiliary_ce(fake_logits, labels)))
            opt_d.zero_grad(set_to_none=True)
            (loss_d * share).backward()
            distributed.all_reduce_grads_(critic.parameters())
            opt_d.step()

        index = torch.randint(len(train), (batch,), device=device)
        z1 = torch.randn(batch, config.z_dim, device=device)
        index, z1 = index[rows], z1[rows]
        real, labels = clips(index), y[index]
        fake = net_g(z1, eye[labels])
        fake_score, fake_logits, fake_embedding = critic(fake)
        with torch.no_grad():
            _, _, real_embedding = critic(real)
        # row means: weighted by this rank's share; feature matching: on the global batch's mean embeddings,
        # whose gradient reaches this rank's rows only (the other ranks' sums enter as constants)
        real_mean, fake_mean = _global_means(real_embedding, fake_embedding, batch)
        fm = losses.feature_matching(real_mean[None], fake_mean[None])
        terms = {"adv": losses.wasserstein_generator(fake_score), "ac": losses.auxiliary_ce(fake_logits, labels)}
        loss_rows = terms["adv"] + config.lambda_ac * terms["ac"]
        if pool is not None:
            classifier = pool.draw()
            terms["sml"] = losses.softmax_matching(classifier(real), classifier(fake), config.sml_temperature)
            loss_rows = loss_rows + config.lambda_sml * terms["sml"]
        if config.lambda_div > 0:
            z2 = torch.randn(batch, config.z_dim, device=device)[rows]
            terms["div"] = losses.diversity(fake, net_g(z2, eye[labels]), z1, z2, config.div_tau)
            loss_rows = loss_rows + config.lambda_div * terms["div"]
        opt_g.zero_grad(set_to_none=True)
        (loss_rows * share + config.lambda_fm * fm).backward()
        distributed.all_reduce_grads_(generator.parameters())
        opt_g.step()

        # the global batch's figures: row means summed over the ranks' shares (fm is global already)
        names = ["loss_d", "gp", "ac_real", "adv", "ac", *[k for k in ("sml", "div") if k in terms]]
        values = torch.stack([t.detach().double() * share for t in
                              (loss_d, gp, ac_real, *[terms[k] for k in names[3:]])])
        distributed.all_reduce_([values])
        record = {"step": step + 1, **dict(zip(names, values.tolist()))}
        record["fm"] = fm.item()
        record["loss_g"] = (record["adv"] + config.lambda_ac * record["ac"] + config.lambda_fm * record["fm"]
                            + config.lambda_sml * record.get("sml", 0.0) + config.lambda_div * record.get("div", 0.0))
        record = {k: record[k] for k in ("step", "loss_d", "gp", "ac_real", "loss_g", "adv", "ac", "fm", "sml", "div")
                  if k in record}
        if (step + 1) % max(1, config.steps // 50) == 0 or step + 1 == config.steps:
            history.append(record)
        bar.update(step + 1, **{k: v for k, v in record.items() if k in ("loss_d", "loss_g", "sml", "div")})
        if main and state_path is not None and ((step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps):
            _save_state(state_path, config, train, generator, critic, opt_g, opt_d, step + 1, history, pool, device)
    bar.__exit__(None, None, None)

    if world > 1:  # back to plain batch-norm layers for saving, sampling and export
        plain, _ = build(config.arch, **builder_kwargs)
        plain.load_state_dict(net_g.state_dict())
        generator = plain
    generator.eval().cpu()
    trained = TrainedGenerator(
        module=generator, arch=config.arch, builder_kwargs=builder_kwargs, labels=list(train.labels), config=train.config,
        class_prior=train.class_counts() / len(train), gan_config=config.to_dict(),
        source_manifest_hash=train.manifest_hash(), history=history,
    )
    trained.metrics = _end_metrics(trained, critic.eval(), pool, valid, config.seed, device) if main else {}
    trained.metrics["world_size"] = world
    return trained


def _rank_synced(generator: torch.nn.Module, device: torch.device, world: int) -> torch.nn.Module:
    """The generator itself in one process; under torch.distributed the same weights with batch-norm
    statistics over the global batch (torch's SyncBatchNorm on CUDA, `RankBatchNorm` on CPU)."""
    if world == 1:
        return generator
    if device.type == "cuda":
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(generator)
    from edgedistill.models.rank_batchnorm import sync_batchnorm

    return sync_batchnorm(generator)


def _global_means(real: torch.Tensor, fake: torch.Tensor, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Means over the global batch of this rank's rows `real` (no gradient) and `fake`: the other
    ranks' row sums enter as constants, so `fake`'s mean carries the gradient of this rank's rows."""
    from edgedistill import distributed

    local_real, local_fake = real.detach().sum(0), fake.sum(0)
    sums = torch.stack([local_real, local_fake.detach()])
    distributed.all_reduce_([sums])
    return sums[0] / batch, (local_fake + (sums[1] - local_fake.detach())) / batch


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
