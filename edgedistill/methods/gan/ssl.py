"""Frame-level self-supervised (HuBERT) features as GAN input, from a LOCAL weights folder only.

The paper distils HuBERT Base frame features (layer activations, time x 768). Pretrained
weights cannot be downloaded here: `load_hubert(path)` takes a folder saved by transformers
(`config.json` + weights) and fails with a clear message when it is missing. Features of one
layer are computed once per (weights, layer, clip set) and cached as an .npz (no pickle).

`SSLConfig` stands in for `FeatureConfig` (same `shape`, `feature_id`, `to_dict` duck type), so
a `FeatureSet` of SSL features trains a generator, saves and reopens (`FeatureSet.load` finds
SSLConfig under kind "hubert" in `featureset.FEATURE_KINDS`), and round-trips through the
generator artifact. Arrays are (N, dim, frames), like MFCCs (N, n_features, n_frames). Imports
torch and transformers (the `ssl` extra) inside functions; must not import the GAN loop.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np


KIND = "hubert"


@dataclass(frozen=True)
class SSLConfig:
    """What defines SSL features: model weights (by hash), layer, audio rate and clip length."""

    weights_id: str
    layer: int
    dim: int
    n_frames: int
    sample_rate: int = 16000
    clip_seconds: float = 2.0
    kind: str = KIND

    @property
    def shape(self) -> tuple[int, int]:
        return (self.dim, self.n_frames)

    @property
    def feature_id(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SSLConfig":
        """An SSLConfig from its `to_dict`; unknown or missing fields (those without a default) are errors."""
        fields = dataclasses.fields(cls)
        unknown = sorted(set(data) - {f.name for f in fields})
        if unknown:
            raise ValueError(f"SSLConfig: unknown key(s) {', '.join(unknown)}")
        missing = [f.name for f in fields if f.default is dataclasses.MISSING and f.name not in data]
        if missing:
            raise ValueError(f"SSLConfig: missing field(s) {', '.join(missing)}; an SSL feature config needs "
                             f"{', '.join(f.name for f in fields)}")
        if data.get("kind", KIND) != KIND:
            raise ValueError(f"SSLConfig: kind {data['kind']!r} is not {KIND!r}")
        return cls(**data)


def load_hubert(path: str | Path):
    """A transformers HubertModel from a local folder (config.json + weights), in eval mode."""
    path = Path(path) if path else None
    if path is None or not (path / "config.json").is_file():
        raise ValueError(
            f"HuBERT weights not found at {path}: pass --ssl-weights with a local folder holding config.json and the "
            "weights (e.g. facebook/hubert-base-ls960 saved with save_pretrained on a machine with internet); "
            "nothing is downloaded here"
        )
    try:
        from transformers import HubertModel
    except ImportError:
        raise ValueError("SSL features need transformers: pip install 'edgedistill[ssl]'") from None
    try:
        return HubertModel.from_pretrained(str(path), local_files_only=True).eval()
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: could not load HuBERT weights ({err})") from None


def weights_id(path: str | Path) -> str:
    """Hash of the weight folder's config and file sizes/names (cheap, identifies the model)."""
    digest = hashlib.sha256()
    for file in sorted(Path(path).iterdir()):
        if file.is_file():
            digest.update(f"{file.name}:{file.stat().st_size}\n".encode())
    digest.update((Path(path) / "config.json").read_bytes())
    return digest.hexdigest()[:16]


def read_clip(path: str | Path, sample_rate: int) -> np.ndarray:
    """A mono WAV as float32 at `sample_rate` (polyphase resampling when the file's rate differs)."""
    from edgedistill.device.audio import read_wav

    wave, rate = read_wav(path)
    if rate == sample_rate:
        return wave
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(sample_rate, rate)
    return resample_poly(wave, sample_rate // g, rate // g).astype(np.float32)


def hubert_features(waves: Sequence[np.ndarray], model, layer: int, sample_rate: int = 16000, clip_seconds: float = 2.0,
                    batch_size: int = 8, device: str = "auto") -> np.ndarray:
    """Layer `layer` activations (0 = CNN front-end projection) of each clip: float32 (N, dim, frames).

    Clips are mono at `sample_rate` (HuBERT expects 16 kHz), zero-padded or cut to clip_seconds.
    """
    import torch

    from edgedistill.runtime import resolve_device

    n_layers = model.config.num_hidden_layers
    if not 0 <= layer <= n_layers:
        raise ValueError(f"layer {layer} out of range: this HuBERT has layers 0..{n_layers}")
    length = int(round(sample_rate * clip_seconds))
    target = resolve_device(device)
    model = model.to(target)
    out = []
    with torch.no_grad():
        for start in range(0, len(waves), batch_size):
            batch = np.zeros((len(waves[start:start + batch_size]), length), dtype=np.float32)
            for i, wave in enumerate(waves[start:start + batch_size]):
                wave = np.asarray(wave, dtype=np.float32)[:length]
                batch[i, :len(wave)] = wave
            hidden = model(torch.from_numpy(batch).to(target), output_hidden_states=True).hidden_states[layer]
            out.append(hidden.transpose(1, 2).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.hidden_size, 0), dtype=np.float32)


def ssl_featureset(data, waves: Sequence[np.ndarray], weights: str | Path, layer: int = 9,
                   cache_dir: str | Path | None = None, device: str = "auto"):
    """`data` (a FeatureSet: labels, splits, speakers) with its x replaced by HuBERT features of `waves`.

    waves[i] is clip i of `data` at data.config.sample_rate. With cache_dir, the features are
    stored in ``hubert-<weights_id>-L<layer>-<manifest hash>.npz`` and reused on the next call.
    """
    from edgedistill.data.featureset import FeatureSet

    if len(waves) != len(data):
        raise ValueError(f"ssl_featureset: {len(waves)} waveforms for {len(data)} clips")
    wid = weights_id(weights) if Path(weights).is_dir() else ""
    cache = Path(cache_dir) / f"hubert-{wid}-L{layer}-{data.manifest_hash()}.npz" if cache_dir and wid else None
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as stored:
            x = stored["x"]
    else:
        model = load_hubert(weights)
        x = hubert_features(waves, model, layer, data.config.sample_rate, data.config.clip_seconds, device=device)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f".{cache.stem}.tmp.npz")
            np.savez(tmp, x=x)
            tmp.replace(cache)
    config = SSLConfig(weights_id=wid, layer=layer, dim=int(x.shape[1]), n_frames=int(x.shape[2]),
                       sample_rate=data.config.sample_rate, clip_seconds=data.config.clip_seconds)
    return FeatureSet(x=x, y=data.y, labels=list(data.labels), config=config, split=data.split, fold=data.fold,
                      speaker=data.speaker, path=data.path, duration=data.duration, dataset=f"{data.dataset}:hubert-L{layer}")
