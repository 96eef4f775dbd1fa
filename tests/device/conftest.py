"""Host-side fixtures for the device tests: small torch modules exported here with torch.onnx
(and litert-torch for TFLite), each as an ``edgedistill.export``-style directory with meta.json,
so the device runtime is tested on real graphs before the export branch lands.

The fixtures need torch (host side); the device modules under test never import it.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from edgedistill.artifacts import Meta, write_artifact  # noqa: E402


class TinyCNN(nn.Module):
    """Normalisation -> 2 conv blocks -> mean pool -> (embedding) -> linear; dynamic-batch friendly."""

    def __init__(self, n_bands: int, n_classes: int, mean: np.ndarray, std: np.ndarray, width: int = 8) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, n_bands, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(1, n_bands, 1))
        self.body = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                                  nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(2 * width, n_classes)

    def embed(self, x):
        h = self.body(((x - self.mean) / self.std).unsqueeze(1))
        return h.mean(dim=(2, 3))

    def forward(self, x):
        return self.fc(self.embed(x))


class Embedder(nn.Module):
    def __init__(self, net: TinyCNN) -> None:
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.embed(x)


class RandomFeatures(nn.Module):
    """A seeded random conv net x (B, F, T) -> Φ (B, D) (the krr mode's nets; fixed weights)."""

    def __init__(self, n_bands: int, n_frames: int, mean, std, width: int = 16, n_features: int = 256, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, n_bands, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(1, n_bands, 1))
        self.register_buffer("conv", torch.randn(width, 1, 3, 3, generator=gen) * (2 / 9) ** 0.5)
        fan_in = width * (n_bands // 4) * (n_frames // 4)
        self.register_buffer("head", torch.randn(fan_in, n_features, generator=gen) / fan_in ** 0.5)
        self.scale = 1.0 / n_features ** 0.5

    def forward(self, x):
        h = torch.relu(torch.nn.functional.conv2d(((x - self.mean) / self.std).unsqueeze(1), self.conv, padding=1))
        h = torch.nn.functional.avg_pool2d(h, 4)
        return torch.matmul(h.flatten(1), self.head) * self.scale


class TinyGenerator(nn.Module):
    """(z, label_onehot) -> features (B, F, T): class-dependent means plus a noise projection."""

    def __init__(self, z_dim: int, n_classes: int, shape: tuple[int, int]) -> None:
        super().__init__()
        self.shape = shape
        self.lin = nn.Linear(z_dim + n_classes, shape[0] * shape[1])

    def forward(self, z, label_onehot):
        return self.lin(torch.cat([z, label_onehot], dim=1)).reshape(-1, *self.shape)


def export_onnx(module: nn.Module, args: tuple, path: Path, input_names: list[str], output_names: list[str],
                dynamic_batch: bool = True) -> Path:
    """torch.onnx.export (dynamo) of an eval-mode module to one self-contained file."""
    module = module.eval()
    dynamic = None
    if dynamic_batch:
        batch = torch.export.Dim("batch", min=1, max=1024)
        dynamic = tuple({0: batch} for _ in args)
    with torch.no_grad():
        torch.onnx.export(module, args, str(path), input_names=input_names, output_names=output_names,
                          dynamic_shapes=dynamic, dynamo=True, external_data=False, verbose=False)
    return path


def export_tflite(module: nn.Module, args: tuple, path: Path) -> Path:
    litert_torch = pytest.importorskip("litert_torch")
    litert_torch.convert(module.eval(), args).export(str(path))
    return path


def export_dir(out: Path, config, labels: list[str], files: dict[str, callable], extra: dict | None = None) -> Path:
    """An edgedistill.export directory: meta.json + the model files written by `files[name](path)`."""
    meta = Meta(schema="edgedistill.export", feature_config=config.to_dict(), feature_id=config.feature_id, labels=labels,
                method={"name": "test-export"}, seed=0, extra={"formats": sorted(files), **(extra or {})})
    return write_artifact(out, meta, lambda tmp: [write(tmp / name) for name, write in files.items()])


def write_wav(path: Path, samples: np.ndarray, rate: int) -> Path:
    ints = np.round(np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(ints.tobytes())
    return path


@pytest.fixture(scope="session")
def toy_splits(toy_featureset):
    """(train, test) FeatureSets of the shared toy set (speaker-disjoint)."""
    return toy_featureset.by_split("train"), toy_featureset.by_split("test")


@pytest.fixture(scope="session")
def trained_cnn(toy_splits):
    """TinyCNN trained for a few full-batch Adam epochs on the toy train split (deterministic)."""
    train, _ = toy_splits
    torch.manual_seed(0)
    mean, std = train.x.mean(axis=(0, 2)), train.x.std(axis=(0, 2)) + 1e-6
    net = TinyCNN(train.x.shape[1], train.n_classes, mean, std)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, y = torch.from_numpy(train.x), torch.from_numpy(train.y)
    for _ in range(40):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval()


@pytest.fixture(scope="session")
def classifier_export(tmp_path_factory, trained_cnn, toy_featureset) -> Path:
    """Export dir with model.fp32.onnx of the trained TinyCNN (input `features`, output `logits`)."""
    example = (torch.from_numpy(toy_featureset.x[:2]),)
    return export_dir(tmp_path_factory.mktemp("export") / "cnn", toy_featureset.config, toy_featureset.labels,
                      {"model.fp32.onnx": lambda p: export_onnx(trained_cnn, example, p, ["features"], ["logits"])})


@pytest.fixture(scope="session")
def classifier_tflite(tmp_path_factory, trained_cnn, toy_featureset) -> Path:
    """The same TinyCNN as model.fp32.tflite (litert-torch, batch 1)."""
    example = (torch.from_numpy(toy_featureset.x[:1]),)
    return export_dir(tmp_path_factory.mktemp("export") / "cnn_tflite", toy_featureset.config, toy_featureset.labels,
                      {"model.fp32.tflite": lambda p: export_tflite(trained_cnn, example, p)})


@pytest.fixture(scope="session")
def backbone_export(tmp_path_factory, trained_cnn, toy_featureset) -> Path:
    """The TinyCNN trunk (features -> 16-d embedding) as a frozen backbone export."""
    example = (torch.from_numpy(toy_featureset.x[:2]),)
    return export_dir(tmp_path_factory.mktemp("export") / "backbone", toy_featureset.config, [],
                      {"model.fp32.onnx": lambda p: export_onnx(Embedder(trained_cnn), example, p, ["features"], ["embedding"])},
                      extra={"kind": "backbone"})


@pytest.fixture(scope="session")
def random_features_export(tmp_path_factory, toy_splits, toy_featureset) -> Path:
    """Seeded random-feature nets (features -> Φ (B, 256)) as the krr mode's export."""
    train, _ = toy_splits
    n_bands, n_frames = toy_featureset.config.shape
    nets = RandomFeatures(n_bands, n_frames, train.x.mean(axis=(0, 2)), train.x.std(axis=(0, 2)) + 1e-6)
    example = (torch.from_numpy(toy_featureset.x[:2]),)
    return export_dir(tmp_path_factory.mktemp("export") / "rf", toy_featureset.config, [],
                      {"model.fp32.onnx": lambda p: export_onnx(nets, example, p, ["features"], ["phi"])},
                      extra={"kind": "random-features"})


@pytest.fixture(scope="session")
def generator_export(tmp_path_factory, toy_featureset) -> Path:
    """A TinyGenerator (z_dim 8) export with a class prior in its metadata."""
    torch.manual_seed(0)
    gen = TinyGenerator(8, toy_featureset.n_classes, toy_featureset.config.shape)
    example = (torch.randn(2, 8), torch.eye(toy_featureset.n_classes)[:2])
    return export_dir(tmp_path_factory.mktemp("export") / "gen", toy_featureset.config, toy_featureset.labels,
                      {"model.fp32.onnx": lambda p: export_onnx(gen, example, p, ["z", "label_onehot"], ["features"])},
                      extra={"kind": "generator", "z_dim": 8, "class_prior": [0.4, 0.3, 0.2, 0.1]})


@pytest.fixture(scope="session")
def train_step_export(tmp_path_factory, toy_featureset) -> Path:
    from edgedistill.export.train_step import TrainStepConfig, export_train_step

    config = toy_featureset.config
    return export_train_step(tmp_path_factory.mktemp("export") / "step", config.to_dict(), config.feature_id,
                             toy_featureset.labels, TrainStepConfig(hidden1=16, hidden2=16), seed=0)


@pytest.fixture(scope="session")
def toy_coreset(tmp_path_factory, toy_splits) -> Path:
    """A 'coreset' artifact of 10 real toy train clips per class (the krr mode's input)."""
    from edgedistill.methods.coreset import Coreset, save_coreset

    train, _ = toy_splits
    pick = np.concatenate([np.flatnonzero(train.y == c)[:10] for c in range(train.n_classes)])
    coreset = Coreset(x=train.x[pick], y=train.y[pick], labels=train.labels, config=train.config)
    return save_coreset(tmp_path_factory.mktemp("coreset") / "c", coreset, {"name": "subset"}, 0, None)


@pytest.fixture(scope="session")
def toy_test_featureset_dir(toy_features_dir) -> Path:
    """The toy feature set directory (use its `test` split for held-out scores)."""
    return toy_features_dir


@pytest.fixture(scope="session")
def toy_test_wavs(tmp_path_factory):
    """The toy test speaker's clips (spk0) as 16 kHz WAV files: (paths, labels, waveforms)."""
    from tests.conftest import toy_waveforms

    waves, y, speakers = toy_waveforms()
    out = tmp_path_factory.mktemp("wavs")
    pick = np.flatnonzero(speakers == "spk0")
    return [write_wav(out / f"clip{i}.wav", waves[i], 16000) for i in pick], y[pick], waves[pick]
