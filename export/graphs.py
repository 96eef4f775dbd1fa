"""What an exported graph looks like: its named inputs and output for each kind of artifact.

Classifier: ``features`` (B, F, T) float32 -> ``logits`` (B, C) (with the front-end inside:
``audio`` (B, clip_samples) -> ``logits``). Generator: ``z`` (B, z_dim) and
``label_onehot`` (B, C) float32 -> ``features`` (B, F, T). Random-feature nets (device `krr`
mode): ``features`` (B, F, T) -> ``phi`` (B, D). The wrappers give torch.onnx and litert-torch
these names (forward argument names become graph input names). Imports torch; used by the
exporter only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class GraphSpec:
    """Graph interface: kind, input names with their per-example shapes, output name."""

    kind: str
    inputs: dict[str, tuple[int, ...]]
    output: str

    def example(self, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Random float32 inputs of `batch` examples (one-hot rows for ``label_onehot``)."""
        out = {}
        for name, shape in self.inputs.items():
            if name == "label_onehot":
                out[name] = np.eye(shape[0], dtype=np.float32)[rng.integers(0, shape[0], batch)]
            else:
                out[name] = rng.standard_normal((batch, *shape)).astype(np.float32)
        return out

    def to_dict(self) -> dict:
        return {"kind": self.kind, "inputs": {k: list(v) for k, v in self.inputs.items()}, "output": self.output}


def classifier_spec(input_shape: tuple[int, int]) -> GraphSpec:
    return GraphSpec("classifier", {"features": tuple(int(s) for s in input_shape)}, "logits")


def audio_classifier_spec(clip_samples: int) -> GraphSpec:
    """A classifier with the feature front-end inside: ``audio`` (B, clip_samples) -> ``logits``."""
    return GraphSpec("classifier", {"audio": (int(clip_samples),)}, "logits")


def generator_spec(z_dim: int, n_classes: int) -> GraphSpec:
    return GraphSpec("generator", {"z": (int(z_dim),), "label_onehot": (int(n_classes),)}, "features")


def random_features_spec(input_shape: tuple[int, int]) -> GraphSpec:
    return GraphSpec("random_features", {"features": tuple(int(s) for s in input_shape)}, "phi")


class _FeaturesGraph(torch.nn.Module):
    """forward(features) -> module(features): one input named ``features``."""

    def __init__(self, module: torch.nn.Module, as_dict: str | None = None) -> None:
        super().__init__()
        self.module = module
        self.as_dict = as_dict

    def forward(self, features: torch.Tensor):
        out = self.module(features)
        return {self.as_dict: out} if self.as_dict else out


class _AudioGraph(torch.nn.Module):
    """forward(audio) -> module(audio): one input named ``audio`` (classifier with front-end)."""

    def __init__(self, module: torch.nn.Module, as_dict: str | None = None) -> None:
        super().__init__()
        self.module = module
        self.as_dict = as_dict

    def forward(self, audio: torch.Tensor):
        out = self.module(audio)
        return {self.as_dict: out} if self.as_dict else out


class _GeneratorGraph(torch.nn.Module):
    """forward(z, label_onehot) -> module(z, label_onehot)."""

    def __init__(self, module: torch.nn.Module, as_dict: str | None = None) -> None:
        super().__init__()
        self.module = module
        self.as_dict = as_dict

    def forward(self, z: torch.Tensor, label_onehot: torch.Tensor):
        out = self.module(z, label_onehot)
        return {self.as_dict: out} if self.as_dict else out


def wrap(module: torch.nn.Module, spec: GraphSpec, named_output: bool = False) -> torch.nn.Module:
    """The module behind forward arguments named as the spec's inputs (eval mode, CPU).

    named_output: return ``{spec.output: y}`` (litert-torch names signature outputs after dict keys).
    """
    module = module.eval().to("cpu")
    key = spec.output if named_output else None
    if spec.kind == "generator":
        graph = _GeneratorGraph(module, key)
    else:
        graph = _AudioGraph(module, key) if "audio" in spec.inputs else _FeaturesGraph(module, key)
    return graph.eval()


def torch_outputs(module: torch.nn.Module, spec: GraphSpec, inputs: dict[str, np.ndarray], batch_size: int = 256) -> np.ndarray:
    """Run the torch module (eval, no grad, CPU) on named numpy inputs -> float32 numpy output."""
    graph = wrap(module, spec)
    n = len(next(iter(inputs.values())))
    outs = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            args = [torch.from_numpy(np.ascontiguousarray(inputs[name][start:start + batch_size], dtype=np.float32)) for name in spec.inputs]
            outs.append(graph(*args).float().numpy())
    return np.concatenate(outs)


def first_line(err: BaseException) -> str:
    """The first line of an exception's message (converters raise pages of IR)."""
    text = str(err).strip().splitlines()
    return text[0][:300] if text else type(err).__name__
