"""Settings declared once: a dataclass field carries its default, its help text and whether it
can change a result.

`setting(default, help)` declares a field; `Settings` gives every config one `to_dict` /
`from_dict` (unknown keys are an error naming the config and the keys) and one resume rule:
fields declared with `result=False` (threads, device, checkpoint and evaluation cadence,
progress) may change when a run resumes, every other field must match (`check_resume` names the
first that differs). `edgedistill.cli.options.config_options` builds the command-line options
from the same fields, so a default or a help text exists in exactly one place.

stdlib only: must not import torch, numpy or `edgedistill.cli`.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

T = TypeVar("T", bound="Settings")

# Help of the settings every command shares (the CLI's --seed/--device/--threads say the same).
SEED_HELP = "Random seed: same seed, same result."
DEVICE_HELP = "auto (CUDA when present, else CPU), cpu, cuda or cuda:N."
THREADS_HELP = "CPU threads (torch's, or the device runtime's intra-op threads)."
PRECISIONS = ("auto", "fp32", "bf16")
PRECISION_HELP = ("fp32, or bf16 autocast of the networks (losses, KRR solves and optimiser state stay float32/float64); "
                  "auto: bf16 on CUDA, fp32 on the CPU.")
NPROC_HELP = ("Processes to run on (data-parallel ranks): N > 1 re-launches the command under torchrun "
              "(gloo on CPU, NCCL with one GPU per process); same result to float rounding.")


def setting(default: Any, help: str, *, result: bool = True, flag: str | None = None, cli: bool = True) -> Any:
    """A config field: default, one-line help, whether it changes results, its CLI flag (default
    `--field-name`), and whether it is a CLI option at all (cli=False for structured values)."""
    meta = {"help": help, "result": result, "flag": flag, "cli": cli}
    if isinstance(default, (list, dict, set)):
        raise TypeError("setting defaults must be immutable (use a tuple)")
    return dataclasses.field(default=default, metadata=meta)


def help_of(cls: type, name: str) -> str:
    """The help text declared on `cls.name`."""
    return _field(cls, name).metadata.get("help", "")


def _field(cls: type, name: str) -> dataclasses.Field:
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def runtime_fields(cls: type) -> frozenset[str]:
    """Fields that cannot change a result: free to change on --resume."""
    return frozenset(f.name for f in dataclasses.fields(cls) if not f.metadata.get("result", True))


class Settings:
    """Mixin for frozen config dataclasses: one dict round trip and one resume rule."""

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        return {"type": type(self).__name__, **data}

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        data = dict(data)
        kind = data.pop("type", cls.__name__)
        if kind != cls.__name__:
            raise ValueError(f"expected a {cls.__name__}, got type={kind!r}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        hints = typing.get_type_hints(cls)
        for name, value in data.items():
            if isinstance(value, list) and typing.get_origin(hints[name]) is tuple:
                data[name] = tuple(value)
        return cls(**data)

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)

    def check_resume(self, saved: dict[str, Any], where: str, also_free: tuple[str, ...] = ()) -> None:
        """Refuse to resume `saved` (a to_dict) with these settings when a result field differs."""
        free = runtime_fields(type(self)) | set(also_free)
        previous = {k: v for k, v in saved.items() if k != "type"}
        current = self.to_dict()
        for f in dataclasses.fields(self):
            if f.name in free or f.name not in previous:
                continue
            if _plain(previous[f.name]) != current[f.name]:
                raise ValueError(f"{where} was made with {f.name}={previous[f.name]!r}, not {current[f.name]!r}; "
                                 f"resume with the same {f.name} (only {', '.join(sorted(free))} may change), "
                                 "or start a new run")


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
