"""`ExportConfig`: how `edgedistill export RUN` writes its files, each setting declared once.

stdlib only: must not import torch (the CLI builds its options from these fields).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgedistill.config import Settings, setting

TARGETS = ("onnx", "tflite", "bundle")


@dataclass(frozen=True)
class ExportConfig(Settings):
    """What to write and how to validate it."""

    target: str = setting("onnx,tflite", "Comma-separated targets: onnx, tflite (see `edgedistill export formats`), and "
                                         "bundle (a folder an Android app or a Pi can ship).", flag="--target")
    int8: bool = setting(False, "Also write int8 files (classifiers need --calibration; generators and random-feature nets "
                                "calibrate on their own inputs).")
    tflite_int8: str = setting("dynamic", "TFLite int8 kind: dynamic (int8 weights, float32 I/O) or static (full integer, "
                                          "int8 inputs/outputs).")
    calibration_max: int = setting(256, "At most this many calibration examples (drawn with the model's seed).")
    min_int8_agreement: float = setting(0.8, "Refuse an int8 file whose top-1 agrees with torch on fewer validation "
                                             "examples than this fraction.")
    with_frontend: bool = setting(False, "Put the feature front-end in the graph: the files take raw audio (B, clip_samples) "
                                         "at the feature config's rate; validated against the numpy front-end. fp32 only.")
    split: str = setting("test", "Split of --eval to validate on.")
    samples: int = setting(64, "Generators: latent samples used for calibration and validation.")

    def targets(self) -> tuple[str, ...]:
        chosen = tuple(t.strip() for t in self.target.split(",") if t.strip())
        unknown = [t for t in chosen if t not in TARGETS]
        if not chosen or unknown:
            raise ValueError(f"--target {self.target!r}: choose from {', '.join(TARGETS)} (comma-separated)")
        return chosen
