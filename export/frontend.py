"""The feature front-end as a torch module, for classifiers exported with ``--with-frontend``
(raw 16 kHz audio in, logits out).

It mirrors `edgedistill.device.features` (the one definition; its matrices are reused, not
re-derived): centred frames with reflect padding, periodic Hann window, power spectrum,
Slaney mel filterbank, dB with floor and per-clip top_db, DCT-II (MFCC) and per-clip CMVN. The
STFT is a constant-index gather (padding + framing in one op) and a matmul with a real DFT
matrix, because ``torch.stft`` does not convert to TFLite (complex type). float32 throughout:
exported files are validated against the numpy (float64) front-end. Imports torch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from edgedistill.device.features import FeatureConfig, _window, dct_matrix, mel_filterbank


def _frame_index(config: FeatureConfig) -> np.ndarray:
    """(n_frames, n_fft) sample indices into the unpadded clip, reflect padding folded in."""
    n, pad, hop = config.clip_samples, config.n_fft // 2, config.hop_length
    padded = np.arange(-pad, n + pad)
    padded = np.abs(padded)  # reflect at the start: -k -> k
    padded = np.where(padded > n - 1, 2 * (n - 1) - padded, padded)  # reflect at the end
    starts = np.arange(config.n_frames) * hop
    return padded[starts[:, None] + np.arange(config.n_fft)[None, :]]


class FrontEnd(nn.Module):
    """audio (B, clip_samples) float32 -> features (B, F, T) exactly as `extract_batch` (up to float32)."""

    def __init__(self, config: FeatureConfig) -> None:
        super().__init__()
        if config.clip_samples <= config.n_fft // 2:
            raise ValueError(f"clip of {config.clip_samples} samples is too short for reflect padding of {config.n_fft // 2}")
        self.config = config
        n_fft = config.n_fft
        k = np.arange(n_fft)[:, None] * np.arange(n_fft // 2 + 1)[None, :]
        window = _window(config.win_length, n_fft)[:, None]
        self.register_buffer("index", torch.from_numpy(_frame_index(config).reshape(-1).astype(np.int64)))
        self.register_buffer("dft_real", torch.from_numpy((np.cos(2 * np.pi * k / n_fft) * window).astype(np.float32)))
        self.register_buffer("dft_imag", torch.from_numpy((-np.sin(2 * np.pi * k / n_fft) * window).astype(np.float32)))
        mel = mel_filterbank(config.sample_rate, n_fft, config.n_mels, config.fmin, config.fmax)
        self.register_buffer("mel", torch.from_numpy(mel.T.astype(np.float32)))
        dct = dct_matrix(config.n_mfcc, config.n_mels) if config.kind == "mfcc" else np.eye(config.n_mels)
        self.register_buffer("dct", torch.from_numpy(dct.T.astype(np.float32)))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        config = self.config
        frames = torch.index_select(audio, 1, self.index).reshape(-1, config.n_frames, config.n_fft)
        power = (frames @ self.dft_real) ** 2 + (frames @ self.dft_imag) ** 2  # (B, T, bins)
        db = torch.log(torch.clamp(power @ self.mel, min=config.log_floor)) * (10.0 / math.log(10.0))
        if config.top_db is not None:
            peak = db.amax(dim=2, keepdim=True).amax(dim=1, keepdim=True)
            db = torch.maximum(db, peak - config.top_db)
        feats = (db @ self.dct).transpose(1, 2)  # (B, F, T)
        if config.normalize == "cmvn":
            feats = feats - feats.mean(dim=2, keepdim=True)
            std = torch.sqrt((feats * feats).mean(dim=2, keepdim=True))
            feats = feats / torch.where(std > 1e-8, std, torch.ones_like(std))
        return feats


class WithFrontEnd(nn.Module):
    """FrontEnd followed by a classifier: audio (B, clip_samples) -> logits (B, C)."""

    def __init__(self, config: FeatureConfig, classifier: nn.Module) -> None:
        super().__init__()
        self.frontend = FrontEnd(config)
        self.classifier = classifier

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.frontend(audio))
