"""Torch module -> ONNX file (torch.onnx.export with the dynamo exporter, opset 17+), with a
dynamic batch axis and the artifact metadata embedded as ONNX ``metadata_props``.

Imports torch and onnx; used by the exporter only.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edgedistill.export.graphs import GraphSpec, first_line, wrap

OPSET = 18
METADATA_KEY = "edgedistill.meta"  # the full meta.json as a JSON string


def to_onnx(module: torch.nn.Module, spec: GraphSpec, path: str | os.PathLike, *, dynamic_batch: bool = True) -> dict[str, Any]:
    """Export `module` as a self-contained ONNX file at `path`.

    Inputs and output are named after `spec`; with `dynamic_batch` the first axis of every input
    and of the output is the symbolic dimension ``batch``. Returns {"batch": "dynamic" | 1,
    "opset": int, "exporter": str}. A module that torch.export cannot trace raises ValueError
    naming the module and the exporter's reason.
    """
    graph = wrap(module, spec)
    example = tuple(torch.from_numpy(a) for a in spec.example(2 if dynamic_batch else 1, np.random.default_rng(0)).values())
    dynamic_shapes = None
    if dynamic_batch:
        batch = torch.export.Dim("batch", min=1, max=65536)
        dynamic_shapes = {name: {0: batch} for name in spec.inputs}
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx.*")
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            torch.onnx.export(
                graph, example, str(path), dynamo=True, external_data=False, opset_version=OPSET,
                input_names=list(spec.inputs), output_names=[spec.output], dynamic_shapes=dynamic_shapes,
                verbose=False, optimize=True,
            )
    except Exception as err:  # torch.export / onnx conversion failure: a user-facing error
        raise ValueError(f"ONNX export of {type(module).__name__} failed: {first_line(err)}; the model must be traceable by "
                         "torch.export (plain conv/bn/relu/pool/linear, no data-dependent control flow)") from err
    return {"batch": "dynamic" if dynamic_batch else 1, "opset": OPSET, "exporter": f"torch.onnx dynamo (torch {torch.__version__})"}


def embed_metadata(path: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Write `meta` into the ONNX file's metadata_props (the whole dict as JSON under
    ``edgedistill.meta``, plus ``labels``, ``feature_id`` and ``schema`` as their own keys), in place
    through a temporary file so the model file is never half-written."""
    import onnx

    path = Path(path)
    model = onnx.load(str(path))
    props = {
        METADATA_KEY: json.dumps(meta, sort_keys=True),
        "labels": json.dumps(meta.get("labels", [])),
        "feature_id": str(meta.get("feature_id", "")),
        "schema": str(meta.get("schema", "")),
    }
    keep = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    model.producer_name = "edgedistill"
    tmp = path.with_name(f".{path.name}.tmp")
    onnx.save(model, str(tmp))
    os.replace(tmp, path)


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The meta dict embedded by `embed_metadata` (ValueError when the file has none)."""
    import onnxruntime as ort

    props = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    if METADATA_KEY not in props:
        raise ValueError(f"{path} carries no edgedistill metadata ({METADATA_KEY!r} missing from metadata_props)")
    return json.loads(props[METADATA_KEY])
