"""The export targets table: what each format is, how it is converted and checked.

One row per target (name, file suffix, converter, quantizer, runtime used to check it, fp32
tolerance, what it supports). The CLI's choices come from this table, and an unsupported request
is refused with the list of what works. Must not import torch, onnx or litert (plain data).
"""

from __future__ import annotations

from dataclasses import dataclass

PRECISIONS = ("fp32", "int8")
# What the exporter knows how to export (the graph's input/output names are fixed per kind).
KINDS = ("classifier", "generator", "random_features")


@dataclass(frozen=True)
class Format:
    """An export target.

    name: the user-facing name (``--formats``). suffix: file suffix; files are named
    ``model.<precision><suffix>``. converter / quantizer: "module:function" paths in
    ``edgedistill.export``. runtime: the inference runtime the file is checked with.
    fp32_atol: largest allowed |exported - torch| on validation inputs for an fp32 file, relative
    to max(1, max |torch output|). int8: how int8 is produced. dynamic_batch: whether a dynamic
    batch axis is attempted (a failure falls back to batch 1 and is recorded in meta).
    """

    name: str
    suffix: str
    converter: str
    quantizer: str
    runtime: str
    fp32_atol: float
    int8: str
    dynamic_batch: bool
    kinds: tuple[str, ...] = KINDS

    def filename(self, precision: str) -> str:
        return f"model.{precision}{self.suffix}"


FORMATS: dict[str, Format] = {
    "onnx": Format(
        name="onnx", suffix=".onnx",
        converter="edgedistill.export.onnx_export:to_onnx",
        quantizer="edgedistill.export.quantization:quantize_onnx",
        runtime="onnxruntime", fp32_atol=1e-4,
        int8="static QDQ (onnxruntime.quantization, per-channel int8 weights, int8 activations, float32 inputs/outputs)",
        dynamic_batch=True,
    ),
    "tflite": Format(
        name="tflite", suffix=".tflite",
        converter="edgedistill.export.tflite_export:to_tflite",
        quantizer="edgedistill.export.quantization:quantize_tflite",
        runtime="ai-edge-litert", fp32_atol=1e-3,
        int8="dynamic range by default (ai-edge-quantizer dynamic_wi8_afp32: int8 weights, float32 inputs/outputs); "
        "full integer with tflite_int8='static' (static_wi8_ai8: int8 inputs/outputs, scale/zero point in meta)",
        dynamic_batch=True,
    ),
}


def get_format(name: str) -> Format:
    """The Format for `name`; an unknown name is a ValueError listing the known ones."""
    if name not in FORMATS:
        raise ValueError(f"unknown export format {name!r}; choose from: {', '.join(FORMATS)}")
    return FORMATS[name]


def parse_formats(formats: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """'onnx,tflite' or a sequence -> checked, de-duplicated tuple of format names."""
    names = [f.strip() for f in formats.split(",")] if isinstance(formats, str) else [str(f).strip() for f in formats]
    names = [n for n in names if n]
    if not names:
        raise ValueError(f"no export format given; choose one or more of: {', '.join(FORMATS)}")
    for name in names:
        get_format(name)
    return tuple(dict.fromkeys(names))


def check_supported(kind: str, formats: tuple[str, ...], precisions: tuple[str, ...]) -> None:
    """Refuse a kind/format/precision combination the exporter does not support, listing what works."""
    if kind not in KINDS:
        raise ValueError(f"unknown export kind {kind!r}; the exporter handles: {', '.join(KINDS)}")
    for precision in precisions:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose from: {', '.join(PRECISIONS)}")
    for name in formats:
        fmt = get_format(name)
        if kind not in fmt.kinds:
            works = [n for n, f in FORMATS.items() if kind in f.kinds]
            raise ValueError(f"format {name!r} cannot export a {kind}; formats that can: {', '.join(works) or 'none'}")


def describe() -> list[list[str]]:
    """Rows (name, suffix, runtime, fp32 tolerance, int8 method, dynamic batch) for `--help` and docs."""
    return [[f.name, f.suffix, f.runtime, f"{f.fp32_atol:g}", f.int8, "yes" if f.dynamic_batch else "no"] for f in FORMATS.values()]
