"""Torch module -> TFLite flatbuffer through litert-torch (no TensorFlow).

A dynamic batch axis is tried first; when litert-torch cannot lower it (a reshape or unsqueeze
of the batch axis inside the model is the usual cause) the model is converted with batch 1 and
the reason is returned, so meta records it honestly. Imports torch and litert_torch; used by
the exporter only.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from typing import Any

import numpy as np
import torch

from edgedistill.export.graphs import GraphSpec, first_line, wrap


def to_tflite(module: torch.nn.Module, spec: GraphSpec, path: str | os.PathLike, *, dynamic_batch: bool = True) -> dict[str, Any]:
    """Convert `module` to a .tflite file at `path` with signature ``serving_default``.

    Signature inputs and output are named after `spec`. Returns {"batch": "dynamic" | 1,
    "converter": str, "batch_fallback_reason": str (only after a fallback)}.
    """
    info: dict[str, Any] = {"converter": f"litert-torch {_version()}"}
    if dynamic_batch:
        try:
            _convert(module, spec, path, batch=2, dynamic=True)
            _check_batch(path, spec)
            info["batch"] = "dynamic"
            return info
        except Exception as err:  # lowering a dynamic batch failed: retry static batch 1
            info["batch_fallback_reason"] = first_line(err)
    try:
        _convert(module, spec, path, batch=1, dynamic=False)
    except Exception as err:
        raise ValueError(f"TFLite conversion of {type(module).__name__} failed: {first_line(err)}; litert-torch needs a "
                         "torch.export-traceable model of plain conv/bn/relu/pool/linear ops") from err
    info["batch"] = 1
    return info


def _convert(module: torch.nn.Module, spec: GraphSpec, path: str | os.PathLike, batch: int, dynamic: bool) -> None:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the converter stack's torchvision/torchao import notices: noise to a user
        import litert_torch

    graph = wrap(module, spec, named_output=True)
    example = {k: torch.from_numpy(v) for k, v in spec.example(batch, np.random.default_rng(0)).items()}
    dynamic_shapes = None
    if dynamic:
        dim = torch.export.Dim("batch", min=1, max=65536)
        dynamic_shapes = {name: {0: dim} for name in spec.inputs}
    # litert-torch prints its progress tree on stdout: keep stdout for the CLI's table / JSON.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        converted = litert_torch.convert(graph, (), sample_kwargs=example, dynamic_shapes=dynamic_shapes)
        converted.export(str(path))


def _check_batch(path: str | os.PathLike, spec: GraphSpec, batch: int = 3) -> None:
    """A "dynamic" file must really follow the batch: litert-torch can bake the example batch into
    a reshape and still mark the input dynamic, then the output keeps the example's batch."""
    from edgedistill.export.validate import run_tflite

    out = run_tflite(path, spec.example(batch, np.random.default_rng(1)), batch_size=batch)
    if out.shape[0] != batch:
        raise ValueError(f"the converted graph returns batch {out.shape[0]} for an input batch of {batch} (example batch baked in)")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("litert-torch")
    except Exception:
        return "unknown"
