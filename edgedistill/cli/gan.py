"""`edgedistill distill-gan` (train a generator that replaces a feature set) and `edgedistill sample`.

Thin Typer shells over `edgedistill.methods.gan`; torch is imported inside the commands so
`edgedistill --help` needs no torch. Flags map one to one onto `GANConfig` fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgedistill.cli.output import emit, log



def distill_gan(
    features: Annotated[Path, typer.Argument(help="Feature set directory (from `edgedistill features` / prepare).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New generator artifact directory (never overwritten).")],
    arch: Annotated[str, typer.Option(help="Architecture: gan-cnn (2-D convs) or gan-att (adds dilated convs + self-attention over time).")] = "gan-cnn",
    steps: Annotated[int, typer.Option(help="Generator updates.")] = 2000,
    n_critic: Annotated[int, typer.Option(help="Critic updates per generator update.")] = 2,
    batch_size: Annotated[int, typer.Option(help="Real and generated samples per step.")] = 64,
    z_dim: Annotated[int, typer.Option(help="Noise size (the one-hot label is added to it).")] = 64,
    width: Annotated[Optional[int], typer.Option(help="Channels of the widest generator/critic layer (default: sized to the data, the generator at most half the features' bytes; warns when it is not smaller).")] = None,
    lr_g: Annotated[float, typer.Option(help="Generator Adam learning rate.")] = 2e-4,
    lr_d: Annotated[float, typer.Option(help="Critic Adam learning rate.")] = 2e-4,
    lambda_gp: Annotated[float, typer.Option(help="Gradient-penalty weight (paper: 10).")] = 10.0,
    lambda_ac: Annotated[float, typer.Option(help="Auxiliary-classifier cross-entropy weight.")] = 1.0,
    lambda_ac_fake: Annotated[float, typer.Option(help="Weight of the critic's aux cross-entropy on generated batches (paper: 1; default 0, real only).")] = 0.0,
    lambda_fm: Annotated[float, typer.Option(help="Discriminator feature-matching weight.")] = 1.0,
    lambda_sml: Annotated[float, typer.Option(help="Softmax-matching KL weight (0 = off, no classifier pool).")] = 1.0,
    lambda_div: Annotated[float, typer.Option(help="Diversity-penalty weight (0 = off).")] = 1.0,
    div_tau: Annotated[float, typer.Option(help="Bound tau of the diversity ratio.")] = 1.0,
    pool_model: Annotated[str, typer.Option(help="Registered model (see `edgedistill models`) whose train_model snapshots fill the L_SML pool.")] = "cnn4",
    pool_width: Annotated[int, typer.Option(help="Width of the pool model.")] = 16,
    pool_models: Annotated[int, typer.Option(help="Downstream classifiers trained on real data for the L_SML pool.")] = 2,
    pool_epochs: Annotated[int, typer.Option(help="Epochs of each pool classifier.")] = 10,
    pool_every: Annotated[int, typer.Option(help="Keep a pool checkpoint every this many epochs.")] = 2,
    input_features: Annotated[str, typer.Option("--features", help="Input: 'feature-set' (the MFCC/log-mel maps in FEATURES) or 'hubert' (frame features of a local HuBERT, computed from the clips' audio once and cached).")] = "feature-set",
    ssl_weights: Annotated[Optional[Path], typer.Option(help="With --features hubert: local folder of HuBERT weights (config.json + weights); nothing is downloaded.")] = None,
    ssl_layer: Annotated[int, typer.Option(help="With --features hubert: transformer layer to take (0 = CNN front-end).")] = 9,
    audio_root: Annotated[Optional[Path], typer.Option(help="With --features hubert: folder the feature set's item paths are relative to.")] = None,
    split: Annotated[str, typer.Option(help="Split of the feature set to distil ('all' = every clip).")] = "train",
    valid_split: Annotated[str, typer.Option(help="Split to score the critic's classifier on ('' = none).")] = "valid",
    checkpoint: Annotated[Optional[Path], typer.Option(help="Directory for the training state (default: OUT.ckpt).")] = None,
    checkpoint_every: Annotated[int, typer.Option(help="Save the training state every this many steps.")] = 200,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the state in --checkpoint (only --steps may change).")] = False,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu, cuda or cuda:N.")] = "auto",
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads (default: torch's choice).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Train a conditional WGAN-GP generator (with L_SML and L_DIV) that replaces the feature set."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.methods.gan.artifact import save_generator
    from edgedistill.methods.gan.config import GANConfig
    from edgedistill.methods.gan.loop import distill

    if out.exists():
        raise ValueError(f"--out {out} already exists; artifacts are never overwritten: choose a new path")
    data = FeatureSet.load(features)
    if input_features == "hubert":
        data = _hubert(data, features, ssl_weights, ssl_layer, audio_root, device)
    elif input_features != "feature-set":
        raise ValueError(f"--features {input_features!r}: choose feature-set or hubert")
    train = data if split == "all" else data.by_split(split)
    valid = data.subset(data.split == valid_split) if valid_split and (data.split == valid_split).any() else None
    config = GANConfig(arch=arch, z_dim=z_dim, width=width, steps=steps, n_critic=n_critic, batch_size=batch_size,
                       lr_g=lr_g, lr_d=lr_d, lambda_gp=lambda_gp, lambda_ac=lambda_ac, lambda_ac_fake=lambda_ac_fake, lambda_fm=lambda_fm,
                       lambda_sml=lambda_sml, lambda_div=lambda_div, div_tau=div_tau, pool_model=pool_model,
                       pool_width=pool_width, pool_models=pool_models,
                       pool_epochs=pool_epochs, pool_every=pool_every, checkpoint_every=checkpoint_every,
                       device=device, threads=threads, seed=seed)
    checkpoint = checkpoint or out.with_name(out.name + ".ckpt")
    log.print(f"distilling {len(train)} clips ({train.n_classes} classes, features {train.config.shape}) with {arch}")
    gen = distill(train, config, progress=True, valid=valid, checkpoint=checkpoint, resume=resume)
    data_bytes = int(train.x.shape[0] * train.x[0].nbytes)
    path = save_generator(out, gen, seed=seed, extra={"train_split": split, "train_feature_bytes": data_bytes})
    result = {"out": str(path), "arch": arch, "steps": steps, "n_train": len(train), "generator_bytes": gen.size_bytes(),
              "train_feature_bytes": data_bytes, "checkpoint": str(checkpoint), **gen.metrics}
    emit(result, as_json, title="GAN distillation")


def sample(
    generator: Annotated[Path, typer.Option("--generator", "-g", help="Generator artifact directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New feature set directory for the generated samples.")],
    per_class: Annotated[int, typer.Option(help="Samples per class (with --prior: per_class x classes in total).")] = 50,
    balanced: Annotated[bool, typer.Option("--balanced/--prior", help="Equal counts per class, or follow the real class prior.")] = True,
    seed: Annotated[int, typer.Option(help="Noise seed (same seed, same samples).")] = 0,
    as_format: Annotated[str, typer.Option("--format", help="featureset (a feature cache, split 'train') or coreset (a coreset artifact, e.g. for `compare`).")] = "featureset",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Sample labelled features from a generator into a feature set or a coreset artifact."""
    from edgedistill.methods.coreset import Coreset, save_coreset
    from edgedistill.methods.gan.artifact import load_generator, sample_featureset

    if as_format not in ("featureset", "coreset"):
        raise ValueError(f"--format {as_format!r}: choose featureset or coreset")
    gen = load_generator(generator)
    data = sample_featureset(gen, per_class, seed=seed, balanced=balanced, source=generator.name + "/")
    about = {"generator": str(generator), "balanced": balanced, "per_class": per_class}
    if as_format == "coreset":
        path = save_coreset(out, Coreset(x=data.x, y=data.y, labels=list(data.labels), config=data.config),
                            method={"name": "gan-sample", **about}, seed=seed, source_manifest_hash=gen.source_manifest_hash)
    else:
        path = data.save(out, seed=seed, extra=about)
    counts = data.class_counts()
    emit({"out": str(path), "format": as_format, "n": len(data), "per_class": {label: int(c) for label, c in zip(data.labels, counts)}},
         as_json, title="Generated samples")

def _hubert(data, features: Path, weights: Optional[Path], layer: int, audio_root: Optional[Path], device: str):
    """The feature set with HuBERT layer features of its clips (cached beside FEATURES)."""
    from edgedistill.methods.gan.ssl import load_hubert, read_clip, ssl_featureset

    if weights is None or not (weights / "config.json").is_file():
        load_hubert(weights)  # raises the message that says where the weights must come from
    if audio_root is None:
        raise ValueError("--features hubert needs --audio-root: the folder the feature set's item paths are relative to")
    waves = [read_clip(audio_root / path, data.config.sample_rate) for path in data.path]
    return ssl_featureset(data, waves, weights, layer=layer, cache_dir=features.parent / f"{features.name}.ssl-cache", device=device)
