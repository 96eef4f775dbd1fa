"""Options shared by every command, declared once, and the builder that turns a config dataclass
into command-line options.

Shared annotated types: the feature cache as first positional argument (`Feat`), `--out/-o`,
`--seed`, `--device`, `--threads`, `--json`, `--model`, `--model-arg`, `--resume`. Each means
the same in every command.

`config_options(name=ConfigClass, ...)` decorates a command: every CLI-visible field of the
config becomes an option whose default and help are the field's own (`edgedistill.config.setting`),
and the command receives the built config as the keyword `name`. A field named like one of the
command's own parameters (seed, device, threads) is filled from that parameter. Torch-free.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import typing
from pathlib import Path
from typing import Annotated, Any, Callable, List, Optional

import typer

from edgedistill.config import DEVICE_HELP, SEED_HELP, THREADS_HELP

Feat = Annotated[Path, typer.Argument(help="Feature cache directory (from `edgedistill data prepare` or `data synth`).",
                                      show_default=False)]
Out = Annotated[Path, typer.Option("--out", "-o", help="New output directory (never overwritten; an existing one is refused).",
                                   show_default=False)]
Seed = Annotated[int, typer.Option("--seed", help=SEED_HELP)]
Device = Annotated[str, typer.Option("--device", help=DEVICE_HELP)]
Threads = Annotated[Optional[int], typer.Option("--threads", help=THREADS_HELP,
                                                show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]
Model = Annotated[str, typer.Option("--model", "-m", help="Classifier to train (see `edgedistill models`).")]
ModelArg = Annotated[Optional[List[str]], typer.Option("--model-arg", help="Model builder argument key=value (repeatable), "
                                                       "e.g. width=16 or dropout=0.5.", show_default=False)]
Backend = Annotated[Optional[str], typer.Option("--backend", help="onnxruntime or litert (default: from the file type; "
                                                                 ".onnx preferred in a directory).")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from its checkpoint; only settings that "
                                                      "cannot change the result (threads, device, cadences) may differ.")]


def model_kwargs(items: list[str] | None) -> dict:
    """{"width": 16} from ["width=16"]; values are read as JSON (numbers, true/false) or kept as text."""
    result = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--model-arg {item!r}: write key=value, e.g. width=16")
        try:
            result[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            result[key.strip()] = value
    return result


def csv(text: str) -> list[str]:
    """["a", "b"] from "a, b,"."""
    return [part.strip() for part in str(text).split(",") if part.strip()]


def _option_type(hint: Any) -> tuple[Any, bool]:
    """(typer type, is a comma-separated tuple) for a config field's type hint."""
    origin = typing.get_origin(hint)
    if origin is tuple:
        return str, True
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return Optional[args[0]], False
    return hint, False


def config_params(cls: type, skip: set[str], panel: str | None) -> tuple[list[inspect.Parameter], dict[str, Any]]:
    """inspect.Parameters for the CLI fields of `cls` (minus `skip`) and their converters."""
    hints = typing.get_type_hints(cls)
    params, converters = [], {}
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.metadata.get("cli", True):
            continue
        kind, is_tuple = _option_type(hints[f.name])
        default = ",".join(str(v) for v in f.default) if is_tuple else f.default
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        decls = [flag]
        if kind is bool and "/" not in flag:
            decls = [f"{flag}/--no-{flag[2:]}"]
        info = typer.Option(*decls, help=f.metadata.get("help", ""), rich_help_panel=panel,
                            show_default=default is not None)
        params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=Annotated[kind, info]))
        converters[f.name] = (lambda text: tuple(csv(text))) if is_tuple else (lambda value: value)
    return params, converters


def config_options(panel: str | None = None, skip: dict[str, tuple[str, ...]] | None = None, **configs: type) -> Callable:
    """Decorator: the command gets one option per config field and receives `name=Config(...)`.

    skip: per config, fields left at their defaults (not options of this command). A config given
    as None is passed as None (a command shared by methods with and without such a config).
    """

    def decorate(func: Callable) -> Callable:
        signature = inspect.signature(func, eval_str=True)
        own = [p for name, p in signature.parameters.items() if name not in configs]
        own_names = {p.name for p in own}
        generated: list[inspect.Parameter] = []
        plan: dict[str, tuple[type, list[str], dict]] = {}
        dropped = {arg for arg, cls in configs.items() if cls is None}
        own = [p for p in own if p.name not in dropped]
        for arg, cls in configs.items():
            if cls is None:
                continue
            taken = own_names | {p.name for p in generated} | set((skip or {}).get(arg, ()))
            params, converters = config_params(cls, taken, panel)
            generated += params
            field_names = [f.name for f in dataclasses.fields(cls)]
            plan[arg] = (cls, field_names, converters)

        @functools.wraps(func)
        def wrapper(**kwargs: Any) -> Any:
            values = dict(kwargs)
            calls = {name: values[name] for name in own_names if name in values}
            calls.update(dict.fromkeys(dropped))
            for arg, (cls, field_names, converters) in plan.items():
                chosen = {}
                for name in field_names:
                    if name in converters:
                        chosen[name] = converters[name](values[name])
                    elif name in calls and name in values:
                        chosen[name] = values[name]
                calls[arg] = cls(**chosen)
            return func(**calls)

        ordered = sorted(own + generated, key=lambda p: p.kind != inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ordered = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if p.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD
                   else p for p in ordered]
        wrapper.__signature__ = inspect.Signature(ordered)
        wrapper.__annotations__ = {p.name: p.annotation for p in ordered}
        del wrapper.__wrapped__  # typer must read the generated signature, not the function's own
        wrapper.config_fields = {arg: cls for arg, (cls, _, _) in plan.items()}
        return wrapper

    return decorate
