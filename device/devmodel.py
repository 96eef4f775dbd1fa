"""The device-trained model artifact (schema ``edgedistill.device-model``): one writer, one graph loader.

Layout: ``meta.json`` (mode krr / head / full, labels, feature config, training config, metrics on
the held-out set), the exported graph the mode runs (copied in, so the directory is
self-contained: random-feature nets, frozen backbone or forward graph) and ``params.npz`` with
the numbers learned on the device. `edgedistill device infer` runs it like an exported model.

numpy + stdlib only: must not import torch or the host package.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from edgedistill.device.artifacts import ArtifactError, Meta, write_artifact
from edgedistill.device.features import FeatureConfig
from edgedistill.device.runtime import Session, load_session

SCHEMA = "edgedistill.device-model"
PARAMS = "params.npz"


def save_device_model(out: str | Path, mode: str, labels: list[str], config: FeatureConfig, graphs: dict[str, Path],
                      params: dict[str, np.ndarray], method: dict[str, Any], metrics: dict[str, Any],
                      seed: int | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write the artifact: graphs {role: source file} are copied in as ``{role}{suffix}``."""
    files = {role: f"{role}{Path(src).suffix}" for role, src in graphs.items()}
    meta = Meta(schema=SCHEMA, feature_config=config.to_dict(), feature_id=config.feature_id, labels=list(labels),
                method={"name": mode, **method}, seed=seed, metrics=metrics,
                extra={"mode": mode, "graphs": files, "params": PARAMS, **(extra or {})})

    def payload(tmp: Path) -> None:
        for role, src in graphs.items():
            shutil.copyfile(src, tmp / files[role])
        np.savez(tmp / PARAMS, **params)

    return write_artifact(out, meta, payload)


def load_params(model_dir: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(Path(model_dir) / PARAMS, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        raise ArtifactError(f"{model_dir}/{PARAMS}: missing or corrupt ({err})") from None


def load_graph(model_dir: Path, meta: Meta, role: str, backend: str | None, threads: int | None) -> Session:
    """The session of the artifact's graph `role`; `backend` must fit the stored file's type (None: by type)."""
    graphs = meta.extra.get("graphs", {})
    if role not in graphs:
        raise ArtifactError(f"{model_dir}: meta.json lists no {role!r} graph (has {sorted(graphs)})")
    path = Path(model_dir) / graphs[role]
    return load_session(path, backend, threads)
