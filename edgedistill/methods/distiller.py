"""What a distillation method is to the rest of edgedistill: a small `Protocol` and its registry.

A method is one module holding a `Distiller` (name, one-line summary, its config type, an
optional type of input options, and `run`) plus one line in `DISTILLERS`. `edgedistill distill
<name> FEAT` is generated from the registry: the config's fields become the command's options.
Torch-free (a distiller imports torch inside `run`); must not import `edgedistill.cli`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from edgedistill.registry import Registry

DISTILLERS = Registry("method", {
    "rfad": "edgedistill.methods.rfad_distiller:DISTILLER",
    "gan": "edgedistill.methods.gan.distiller:DISTILLER",
})


class Distiller(Protocol):
    name: str
    summary: str  # first line of `distill <name> --help`
    description: str  # the rest of the help
    config_type: type  # a frozen `Settings` dataclass (edgedistill.config)
    inputs_type: type | None  # a `Settings` dataclass of input options that do not go into the artifact

    def run(self, feat: Path, out: Path, config: Any, inputs: Any, *, resume: bool, progress: bool) -> dict[str, Any]:
        """Distil the feature cache `feat` into the new artifact `out`; return its summary figures."""


def refuse_existing(out: Path) -> None:
    """Artifacts are never overwritten."""
    from edgedistill.artifacts import check_output

    check_output(out)


def training_splits(feat: Path, split: str = "train", valid_split: str = "valid"):
    """(data, train, valid or None) of a feature cache; `split` 'all' takes every clip."""
    from edgedistill.data.featureset import FeatureSet

    data = FeatureSet.load(feat)
    return (data, *split_train_valid(data, split, valid_split))


def split_train_valid(data, split: str = "train", valid_split: str = "valid"):
    """(train, valid or None) of a loaded feature set; `split` 'all' takes every clip."""
    train = data if split == "all" else data.by_split(split)
    valid = data.subset(data.split == valid_split) if valid_split and (data.split == valid_split).any() else None
    return train, valid
