"""Offline text-to-speech through libespeak-ng shipped by the PyPI package `espeakng-loader`.

A thin ctypes binding (no system install): `synthesize_word(text, voice, rate, pitch, ...)`
returns int16 samples at `ESPEAK_RATE` Hz. Determinism: most voice variants add breath noise
from espeak-ng's own random generator (seeded from the clock at start-up) and the synthesiser
keeps state between utterances (pitch flutter, echo), so samples are reproducible only for the
same sequence of calls in a fresh process after `seed(n)`; `edgedistill.data.synth` renders
each fixed chunk of clips in a new process for that reason. Calls are serialised by a lock. `english_voices()` lists "language+variant" names (8 English accents x the variants
shipped in espeak-ng-data/voices/!v). Must not import torch.
"""

from __future__ import annotations

import ctypes
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

ESPEAK_RATE = 22050
ACCENTS = ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc")
_SYNCHRONOUS, _POS_CHARACTER = 2, 1
_RATE, _VOLUME, _PITCH, _RANGE = 1, 2, 3, 4
# Variants that do not sound like a person (robots, whispers, effects): left out of synthesis.
NOVELTY = ("Demonic", "UniRobot", "anikaRobot", "robosoft", "whisper", "croak", "Tweaky")
_LOCK = threading.Lock()
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _Engine:
    """The initialised library and the buffer its synthesis callback fills."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise ValueError("speech synthesis needs the espeakng-loader package: pip install 'edgedistill[host]'") from None
        self.data_path = Path(espeakng_loader.get_data_path())
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, str(self.data_path).encode(), 0)
        if rate != ESPEAK_RATE:
            raise RuntimeError(f"espeak-ng initialised at {rate} Hz, expected {ESPEAK_RATE}")
        self.chunks: list[np.ndarray] = []
        self.callback = _CALLBACK(self._collect)  # keep a reference: ctypes must not free it
        lib.espeak_SetSynthCallback(self.callback)
        self.lib = lib

    def _collect(self, wav, n, events) -> int:
        if n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0


@lru_cache(maxsize=1)
def _engine() -> _Engine:
    return _Engine()


@lru_cache(maxsize=1)
def _voices() -> tuple[str, ...]:
    variants = sorted(p.name for p in (_engine().data_path / "voices" / "!v").iterdir() if p.is_file() and " " not in p.name)
    return tuple(f"{accent}+{variant}" for accent in ACCENTS for variant in variants)


def seed(value: int) -> None:
    """Seed espeak-ng's noise generator (call once in a fresh process, before synthesising)."""
    with _LOCK:
        _engine().lib.espeak_ng_SetRandSeed(int(value) % (2**31))


def fresh() -> bool:
    """True while this process has not started espeak-ng (its state is still the initial one)."""
    return _engine.cache_info().currsize == 0


def english_voices(novelty: bool = False) -> list[str]:
    """Every "accent+variant" voice name (accents x variants of espeak-ng-data), in a fixed order;
    without `novelty`, variants that do not sound like a person (NOVELTY) are left out."""
    return [v for v in _voices() if novelty or not v.split("+")[1].startswith(NOVELTY)]


def synthesize_word(text: str, voice: str, rate: int = 160, pitch: int = 50, pitch_range: int = 50,
                    volume: int = 100) -> np.ndarray:
    """int16 samples at ESPEAK_RATE of `text` spoken by `voice` (an `english_voices()` name).

    rate: words per minute (80-450); pitch and pitch_range: 0-100; volume: 0-200.
    """
    engine = _engine()
    if voice not in _voices():
        raise ValueError(f"espeak-ng has no voice {voice!r}; names are accent+variant, e.g. {_voices()[0]} (see english_voices())")
    with _LOCK:
        if engine.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}; see english_voices()")
        for parameter, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, pitch_range), (_VOLUME, volume)):
            engine.lib.espeak_SetParameter(parameter, int(value), 0)
        engine.chunks = []
        data = text.encode() + b"\0"
        if engine.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, 0, None, None) != 0:
            raise RuntimeError(f"espeak-ng failed to synthesise {text!r}")
        engine.lib.espeak_Synchronize()
        chunks, engine.chunks = engine.chunks, []
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
