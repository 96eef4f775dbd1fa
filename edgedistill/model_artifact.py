"""The trained-model artifact (schema "edgedistill.model"): `save_model` and `load_model`.

Layout: `meta.json` (feature config + feature_id, labels, seed, source manifest hash, metrics;
`extra`: model, model_kwargs, n_classes, input_shape, train_config, training_data, history)
and `model.safetensors` (the module's state dict, normalisation buffers included). No pickle.
Imports torch and safetensors inside the functions (this module imports training.py, never the other way round).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgedistill.artifacts import ArtifactError, Meta, read_meta, write_artifact
from edgedistill.features import FeatureConfig

SCHEMA = "edgedistill.model"
PAYLOAD = "model.safetensors"


def save_model(out: str | Path, trained, features: FeatureConfig, seed: int | None = None,
               source_manifest_hash: str | None = None, metrics: dict[str, Any] | None = None,
               extra: dict[str, Any] | None = None) -> Path:
    """Write `trained` (a TrainedModel) as a model artifact at `out` (never over an existing one).

    features: the FeatureConfig the model was trained on (its shape must be the model's input).
    extra: more meta fields; pass `training_data` (a dict describing what it was trained on:
    source, n_samples, per_class, coreset path ...) so the artifact says where it came from.
    """
    from safetensors.torch import save_file

    if tuple(features.shape) != tuple(trained.input_shape):
        raise ValueError(f"model input shape {tuple(trained.input_shape)} does not match the features' shape "
                         f"{tuple(features.shape)}; save with the FeatureConfig the model was trained on")
    extra = dict(extra or {})
    meta = Meta(
        schema=SCHEMA, feature_config=features.to_dict(), feature_id=features.feature_id, labels=list(trained.labels),
        method={"name": "train", "model": trained.model}, seed=seed, source_manifest_hash=source_manifest_hash,
        metrics=dict(metrics or {}),
        extra={"payload": PAYLOAD, "model": trained.model, "model_kwargs": dict(trained.model_kwargs),
               "n_classes": len(trained.labels), "input_shape": list(trained.input_shape),
               "train_config": trained.train_config.to_dict() if trained.train_config is not None else None,
               "training_data": extra.pop("training_data", {}), "history": list(trained.history), **extra},
    )
    state = {k: v.detach().cpu().contiguous() for k, v in trained.module.state_dict().items()}
    return write_artifact(out, meta, lambda tmp: save_file(state, str(tmp / PAYLOAD), metadata={"schema": SCHEMA}))


def load_model(path: str | Path, features: FeatureConfig | str | None = None):
    """Load a model artifact as a TrainedModel (eval mode, CPU); `features` refuses other features."""
    from safetensors.torch import load_file

    from edgedistill.models import build_model
    from edgedistill.train_config import TrainConfig
    from edgedistill.training import TrainedModel

    path = Path(path)
    meta = read_meta(path, schema=SCHEMA, features=features)
    try:
        name, kwargs = meta.extra["model"], dict(meta.extra["model_kwargs"])
        input_shape = tuple(int(s) for s in meta.extra["input_shape"])
        config = meta.extra.get("train_config")
    except (KeyError, TypeError, ValueError) as err:
        raise ArtifactError(f"{path}/meta.json: model fields missing or malformed ({err})") from None
    module = build_model(name, len(meta.labels), input_shape, **kwargs)
    try:
        state = load_file(str(path / PAYLOAD))
    except Exception as err:  # missing file or safetensors' own header errors
        raise ArtifactError(f"{path}/{PAYLOAD}: missing or corrupt ({err})") from None
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise ArtifactError(f"{path}/{PAYLOAD} does not fit model {name!r} {kwargs}: {str(err).splitlines()[0]}") from None
    module.eval()
    return TrainedModel(module=module, model=name, model_kwargs=kwargs, labels=list(meta.labels), input_shape=input_shape,
                        history=list(meta.extra.get("history", [])),
                        train_config=TrainConfig.from_dict(config) if config else None, meta=meta)
