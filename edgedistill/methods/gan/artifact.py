"""The generator artifact (schema ``edgedistill.generator``): save, load, and sample a budget.

Directory: ``meta.json`` (feature config + feature_id, labels, method = GAN config, extra:
builder name ``arch`` and ``builder_kwargs`` (n_classes, input_shape, z_dim, width), ``z_dim``,
``class_prior`` of the real training data) + ``generator.safetensors`` (state dict, including
the per-band mean/std buffers). Sampling draws e ~ N(0, I) from numpy's seeded generator, so a
seed gives the same noise on any machine. Imports torch (generator module) and safetensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgedistill.artifacts import ArtifactError, Meta, read_meta, write_artifact
from edgedistill.data.featureset import FeatureSet, feature_config_from_dict
from edgedistill.features import FeatureConfig
from edgedistill.methods.gan.architectures import Generator, build
from edgedistill.methods.gan.ssl import SSLConfig

SCHEMA = "edgedistill.generator"
PAYLOAD = "generator.safetensors"


@dataclass
class TrainedGenerator:
    """A conditional generator with everything needed to sample labelled features from it."""

    module: Generator  # eval mode
    arch: str
    builder_kwargs: dict[str, Any]  # n_classes, input_shape, z_dim, width
    labels: list[str]
    config: FeatureConfig | SSLConfig
    class_prior: np.ndarray  # (C,) fraction of each class in the real training data
    gan_config: dict[str, Any] = field(default_factory=dict)
    source_manifest_hash: str | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    meta: Meta | None = None

    @property
    def z_dim(self) -> int:
        return int(self.builder_kwargs["z_dim"])

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    def size_bytes(self) -> int:
        """Bytes of the float32 generator weights (buffers included)."""
        return sum(t.numel() * 4 for t in self.module.state_dict().values())


def save_generator(out: str | Path, gen: TrainedGenerator, seed: int | None = None,
                   extra: dict[str, Any] | None = None) -> Path:
    """Write the generator artifact atomically (never over an existing directory)."""
    from safetensors.torch import save_file

    meta = Meta(
        schema=SCHEMA, feature_config=gen.config.to_dict(), feature_id=gen.config.feature_id, labels=list(gen.labels),
        method={"name": "gan", **gen.gan_config}, seed=seed, source_manifest_hash=gen.source_manifest_hash,
        metrics={"generator_bytes": gen.size_bytes(), **gen.metrics},
        extra={"payload": PAYLOAD, "arch": gen.arch, "builder_kwargs": _plain_kwargs(gen.builder_kwargs),
               "z_dim": gen.z_dim, "class_prior": [float(p) for p in gen.class_prior], "history": gen.history,
               "inputs": {"z": ["B", gen.z_dim], "label_onehot": ["B", gen.n_classes]},
               "output": {"features": ["B", *gen.config.shape]}, **(extra or {})},
    )
    state = {k: v.detach().cpu().contiguous() for k, v in gen.module.state_dict().items()}
    return write_artifact(out, meta, lambda tmp: save_file(state, str(tmp / PAYLOAD)))


def _plain_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}


def load_generator(path: str | Path, features: FeatureConfig | SSLConfig | str | None = None) -> TrainedGenerator:
    """Load a generator artifact on the CPU; `features` refuses one made with other features."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    meta = read_meta(path, schema=SCHEMA, features=features)
    for key in ("arch", "builder_kwargs", "class_prior"):
        if key not in meta.extra:
            raise ArtifactError(f"{path}/meta.json: generator field {key!r} is missing; the artifact is incomplete")
    kwargs = dict(meta.extra["builder_kwargs"])
    kwargs["input_shape"] = tuple(kwargs["input_shape"])
    try:
        module, _ = build(meta.extra["arch"], **kwargs)
        module.load_state_dict(load_file(str(path / PAYLOAD)))
    except (OSError, SafetensorError, RuntimeError, TypeError) as err:
        raise ArtifactError(f"{path}/{PAYLOAD}: missing, corrupt or not matching the builder in meta.json ({err})") from None
    config = feature_config_from_dict(meta.feature_config)
    if tuple(kwargs["input_shape"]) != config.shape or kwargs["n_classes"] != len(meta.labels):
        raise ArtifactError(f"{path}/meta.json: builder_kwargs {kwargs} disagree with the feature shape {config.shape} "
                            f"or the {len(meta.labels)} labels")
    method = {k: v for k, v in meta.method.items() if k != "name"}
    return TrainedGenerator(module=module.eval(), arch=meta.extra["arch"], builder_kwargs=kwargs, labels=list(meta.labels),
                            config=config, class_prior=np.asarray(meta.extra["class_prior"], dtype=np.float64),
                            gan_config=method, source_manifest_hash=meta.source_manifest_hash,
                            history=list(meta.extra.get("history", [])), metrics=dict(meta.metrics), meta=meta)


def class_budget(gen: TrainedGenerator, per_class: int | dict[str | int, int], balanced: bool = True) -> np.ndarray:
    """Samples per class (C,) int: `per_class` each (balanced), or per_class * C split by the prior.

    A dict maps class names (or indices) to counts; classes it leaves out get none. With the
    prior, counts follow the real class fractions by largest remainder, so they sum exactly.
    """
    n = gen.n_classes
    if isinstance(per_class, dict):
        counts = np.zeros(n, dtype=np.int64)
        for key, count in per_class.items():
            index = gen.labels.index(key) if key in gen.labels else key
            if not isinstance(index, (int, np.integer)) or not 0 <= index < n:
                raise ValueError(f"per_class: unknown class {key!r}; the generator's classes are {', '.join(gen.labels)}")
            counts[index] = int(count)
    else:
        if int(per_class) < 0:
            raise ValueError(f"per_class must be >= 0, got {per_class}")
        if balanced:
            counts = np.full(n, int(per_class), dtype=np.int64)
        else:
            total = int(per_class) * n
            share = np.asarray(gen.class_prior, dtype=np.float64) / max(gen.class_prior.sum(), 1e-12) * total
            counts = np.floor(share).astype(np.int64)
            remainder = total - counts.sum()
            counts[np.argsort(-(share - counts), kind="stable")[:remainder]] += 1
    if (counts < 0).any():
        raise ValueError("per_class: counts must be >= 0")
    return counts


@torch.no_grad()
def sample(gen: TrainedGenerator, per_class: int | dict[str | int, int], seed: int = 0, balanced: bool = True,
           batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Generate labelled features: x float32 (N, F, T), y int64 (N,) sorted by class.

    per_class: samples per class (int), or a dict {class name or index: count}. balanced=False
    spreads per_class * C samples by the original class prior instead of equally.
    """
    counts = class_budget(gen, per_class, balanced)
    y = np.repeat(np.arange(gen.n_classes), counts)
    noise = np.random.default_rng(seed).standard_normal((len(y), gen.z_dim)).astype(np.float32)
    onehot = np.eye(gen.n_classes, dtype=np.float32)[y]
    module = gen.module.eval()
    device = next(module.parameters()).device
    parts = [module(torch.from_numpy(noise[i:i + batch_size]).to(device), torch.from_numpy(onehot[i:i + batch_size]).to(device)).cpu().numpy()
             for i in range(0, len(y), batch_size)]
    x = np.concatenate(parts) if parts else np.zeros((0, *gen.config.shape), dtype=np.float32)
    return x.astype(np.float32), y.astype(np.int64)


def sample_featureset(gen: TrainedGenerator, per_class: int | dict[str | int, int], seed: int = 0,
                      balanced: bool = True, source: str = "") -> FeatureSet:
    """Generated samples as a FeatureSet (all in the "train" split), ready for training or saving."""
    x, y = sample(gen, per_class, seed=seed, balanced=balanced)
    return FeatureSet(x=x, y=y, labels=list(gen.labels), config=gen.config,
                      split=np.full(len(y), "train", dtype=object),
                      path=np.array([f"generated/{source}{i}" for i in range(len(y))], dtype=object),
                      dataset=f"generated:{source or 'gan'}")
