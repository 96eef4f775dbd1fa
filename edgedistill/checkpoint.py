"""Training checkpoints: one safetensors file with the weights, Adam moments, the best weights so
far and the RNG states, plus JSON metadata (model identity, epoch, history), so an interrupted run
continues exactly where it stopped. Written atomically (tmp + rename). No pickle. Imports torch.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn


def load_state(module: nn.Module, state: dict, source: str) -> None:
    """load_state_dict with a clear error naming what does not fit."""
    try:
        module.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{source} does not fit this model: {str(err).splitlines()[0]} ...") from None


@dataclass
class RunState:
    """What a resumed run needs besides the weights: epoch, history, best weights so far."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_accuracy: float | None = None
    best_epoch: int = 0
    since_best: int = 0
    best_weights: dict[str, torch.Tensor] | None = None


def save_checkpoint(path: Path, identity: dict, module: nn.Module, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator, state: RunState, config) -> None:
    """Weights, Adam moments, best weights and RNG states as one safetensors file (atomic)."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    for i, (param_id, slot) in enumerate(optimizer.state_dict()["state"].items()):
        for name, value in slot.items():
            tensors[f"optim.{param_id}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous().clone()
    for k, v in (state.best_weights or {}).items():
        tensors[f"best.{k}"] = v.detach().cpu().contiguous()
    tensors["rng.generator"] = generator.get_state()
    tensors["rng.torch"] = torch.random.get_rng_state()
    run = {"epoch": state.epoch, "history": state.history, "best_accuracy": state.best_accuracy,
           "best_epoch": state.best_epoch, "since_best": state.since_best, "train_config": config.to_dict()}
    metadata = {"schema": "edgedistill.checkpoint", "identity": json.dumps(identity), "run": json.dumps(run)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def load_checkpoint(path: Path, identity: dict, module: nn.Module, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator) -> RunState:
    """Restore a checkpoint into module/optimizer/generator; refuses one of another model."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise ValueError(f"{path}: not a readable checkpoint ({err}); delete it or resume from another") from None
    if metadata.get("schema") != "edgedistill.checkpoint":
        raise ValueError(f"{path} is not an edgedistill training checkpoint")
    saved = json.loads(metadata["identity"])
    if saved != json.loads(json.dumps(identity)):
        diffs = [f"{k}: {saved.get(k)!r} (checkpoint) vs {identity.get(k)!r} (this run)"
                 for k in identity if saved.get(k) != json.loads(json.dumps(identity))[k]]
        raise ValueError(f"cannot resume from {path}: it is a checkpoint of another model ({'; '.join(diffs)}); "
                         "use the same model, classes and features, or start without --resume")
    run = json.loads(metadata["run"])
    load_state(module, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(path))
    optim_state = optimizer.state_dict()
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, param_id, name = key.split(".", 2)
            slots.setdefault(int(param_id), {})[name] = value
    optim_state["state"] = slots
    optimizer.load_state_dict(optim_state)
    generator.set_state(tensors["rng.generator"])
    torch.random.set_rng_state(tensors["rng.torch"])
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    return RunState(epoch=run["epoch"], history=run["history"], best_accuracy=run["best_accuracy"],
                     best_epoch=run["best_epoch"], since_best=run["since_best"], best_weights=best or None)
