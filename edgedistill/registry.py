"""Explicit name -> "module:attribute" tables with lazy imports.

Registries (datasets, models, methods, strategies, export targets) are plain tables so the CLI
can list choices without importing torch, and an unknown name fails with the valid ones.
Must not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any, Iterator, Mapping


class Registry(Mapping[str, Any]):
    """A read-only table of named entries; values are loaded on first access."""

    def __init__(self, kind: str, table: dict[str, str]) -> None:
        for name, target in table.items():
            if ":" not in target:
                raise ValueError(f"{kind} registry entry {name!r}: target {target!r} must be 'module:attribute'")
        self.kind = kind
        self._table = dict(table)

    def __getitem__(self, name: str) -> Any:
        if name not in self._table:
            raise KeyError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(self._table)}")
        module, attribute = self._table[name].split(":")
        return getattr(importlib.import_module(module), attribute)

    def get_entry(self, name: str) -> Any:
        """Like registry[name] but raises ValueError (a user error) for an unknown name."""
        try:
            return self[name]
        except KeyError as err:
            raise ValueError(err.args[0]) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def names(self) -> list[str]:
        return list(self._table)
