"""Dataset -> cached FeatureSet: list the items, decode and resample the audio, extract features.

`prepare(dataset, root, features, out)` writes a feature cache (schema edgedistill.features, see
`edgedistill.data.featureset`) atomically. Its meta records a cache key (the manifest's content
hash incl. file sizes and mtimes, the feature_id, the seed and the options): re-running with
unchanged inputs returns at once, an interrupted run leaves no cache behind, and `force`
replaces a cache whose inputs changed. Clips are fitted to the preset's length: a longer clip
is cropped centred for valid/test and at a seeded random offset for train; a shorter one is
padded as the config's `pad` says (zeros, or looped for the `ser` preset). Must not import torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from edgedistill.artifacts import ArtifactError, check_output, read_meta, remove_stale
from edgedistill.data.datasets import load_dataset
from edgedistill.data.featureset import SCHEMA, FeatureSet
from edgedistill.data.manifest import Item, Manifest
from edgedistill.progress import progress as progress_bar, say
from edgedistill.features import FeatureConfig, extract_batch, fit_length, get_preset

ON_ERROR = ("raise", "skip")
CHUNK = 64  # clips per worker task


@dataclass
class _Chunk:
    """Result of one worker task: features of the clips that decoded, and why the others did not."""

    index: np.ndarray
    x: np.ndarray
    duration: np.ndarray
    errors: list[tuple[int, str]]


def prepare(dataset: str, root: str | Path, features: str | FeatureConfig, out: str | Path, *,
            on_error: str = "raise", workers: int = 1, seed: int = 0, force: bool = False,
            progress: bool = True, **options: Any) -> Path:
    """Write the feature cache of `dataset` under `root` to `out` and return `out`.

    features: a preset name ("kws", "esc50", "us8k", "ser") or a FeatureConfig.
    on_error: "raise" stops at the first bad item naming the file and the problem; "skip"
    leaves it out and records it (meta extra "skipped": path and reason).
    workers: extraction processes (1 = in this process). seed: split and crop seed.
    force: replace an existing cache made from other inputs (else that is an error).
    options: the dataset loader's options (see `edgedistill data list`), e.g. fold=1.
    """
    config = get_preset(features) if isinstance(features, str) else features
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error={on_error!r}; choose one of {', '.join(ON_ERROR)}")
    manifest = load_dataset(dataset, root, seed=seed, **options)
    if manifest.problems and on_error == "raise":
        path, reason = manifest.problems[0]
        more = f" (and {len(manifest.problems) - 1} more)" if len(manifest.problems) > 1 else ""
        raise ValueError(f"{manifest.root / path}: {reason}{more}; fix the data or pass on_error='skip' (--on-error skip)")
    key = cache_key(manifest, config, seed, options)
    out = Path(out)
    if out.exists() and _cached_key(out) == key:
        say(f"{out}: up to date (cache key {key}), nothing to do", progress)
        return out
    if out.exists() and not force and _cached_key(out) is not None:
        raise ArtifactError(f"{out} already exists and was made from other inputs or settings; "
                            "choose a new --out, or pass --force to replace it")
    check_output(out, SCHEMA, force=force)  # --force replaces only a feature cache, never a user's folder
    for prefix in (f".{out.name}.features-", f".{out.name}.new-", f".{out.name}.old-"):
        remove_stale(out.parent, prefix)  # temp files of a killed run
    scratch = out.with_name(f".{out.name}.features-{os.getpid()}.npy")  # features on disk, not in RAM
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        buffer = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.float32, shape=(len(manifest), *config.shape))
        features_set, skipped = _extract(manifest, config, buffer, on_error, workers, seed, progress)
        extra = {"cache_key": key, "protocol": manifest.protocol, "notes": manifest.notes, "options": _plain(options),
                 "root": str(manifest.root), "skipped": [{"path": p, "reason": r} for p, r in skipped],
                 "fold_counts": _counts(features_set.fold[features_set.fold >= 0]),
                 "speakers": sorted(set(features_set.speaker.tolist()) - {""})}
        return _save(features_set, out, seed, extra)
    finally:
        scratch.unlink(missing_ok=True)


def cache_key(manifest: Manifest, config: FeatureConfig, seed: int, options: dict[str, Any]) -> str:
    """What a cache depends on: items and file stats, feature_id, seed, loader options."""
    text = json.dumps([manifest.content_hash(), config.feature_id, seed, _plain(options)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cached_key(out: Path) -> str | None:
    try:
        return read_meta(out, schema=SCHEMA).extra.get("cache_key")
    except ArtifactError:
        return None


def _extract(manifest: Manifest, config: FeatureConfig, x: np.ndarray, on_error: str, workers: int, seed: int,
             progress: bool) -> tuple[FeatureSet, list[tuple[str, str]]]:
    """Fill `x` (N, F, T), a disk-backed buffer, and return the FeatureSet of the clips that decoded."""
    n = len(manifest)
    duration = np.full(n, np.nan)
    keep = np.zeros(n, dtype=bool)
    skipped = list(manifest.problems)
    tasks = [(manifest, config, seed, on_error, start, min(start + CHUNK, n)) for start in range(0, n, CHUNK)]
    with progress_bar(n, f"{manifest.dataset}: features", enabled=progress) as bar:
        for chunk in _run(tasks, workers):
            x[chunk.index], duration[chunk.index], keep[chunk.index] = chunk.x, chunk.duration, True
            skipped += [(manifest.items[i].key, reason) for i, reason in chunk.errors]
            bar.advance(len(chunk.index) + len(chunk.errors))
    if not keep.any():
        raise ValueError(f"{manifest.root}: every item failed; first: {skipped[0][0]}: {skipped[0][1]}")
    items = [item for item, k in zip(manifest.items, keep) if k]
    kept = np.flatnonzero(keep)
    for j, i in enumerate(kept):  # compact in place (no copy of the whole array)
        if i != j:
            x[j] = x[i]
    for path, reason in skipped:
        say(f"skipped {path}: {reason}", progress)
    return FeatureSet(
        x=x[: len(kept)], y=np.array([manifest.labels.index(i.label) for i in items], dtype=np.int64), labels=list(manifest.labels),
        config=config, split=np.array([i.split for i in items], dtype=object), fold=np.array([i.fold for i in items]),
        speaker=np.array([i.speaker for i in items], dtype=object), path=np.array([i.key for i in items], dtype=object),
        duration=duration[keep], dataset=manifest.dataset,
    ), skipped


def _run(tasks: list[tuple], workers: int) -> Iterator[_Chunk]:
    if workers <= 1 or len(tasks) <= 1:
        yield from map(_extract_chunk, tasks)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_extract_chunk, tasks)


def _extract_chunk(task: tuple) -> _Chunk:
    """Decode, fit and featurise items [start, stop) of the manifest (runs in a worker)."""
    from edgedistill.data.audio import load_audio

    manifest, config, seed, on_error, start, stop = task
    waves, index, durations, errors = [], [], [], []
    for i in range(start, stop):
        item: Item = manifest.items[i]
        try:
            wave = load_audio(manifest.resolve(item), config.sample_rate, item.start, item.duration)
        except (ValueError, OSError) as err:
            if on_error == "raise":
                raise ValueError(f"{err}; pass on_error='skip' (--on-error skip) to leave such files out") from None
            errors.append((i, str(err).removeprefix(f"{manifest.resolve(item)}: ")))
            continue
        offset = None
        if item.split == "train" and len(wave) > config.clip_samples:
            offset = int(np.random.default_rng([seed, i]).integers(0, len(wave) - config.clip_samples + 1))
        waves.append(fit_length(wave, config.clip_samples, offset, config.pad))
        index.append(i)
        durations.append(len(wave) / config.sample_rate)
    x = extract_batch(np.stack(waves), config) if waves else np.zeros((0, *config.shape), np.float32)
    return _Chunk(np.array(index, dtype=int), x, np.array(durations), errors)


def _save(features_set: FeatureSet, out: Path, seed: int, extra: dict[str, Any]) -> Path:
    """Save atomically; an existing `out` (force) is swapped out only after the new one is whole."""
    if not out.exists():
        return features_set.save(out, seed=seed, extra=extra)
    fresh = features_set.save(out.with_name(f".{out.name}.new-{os.getpid()}"), seed=seed, extra=extra)
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    os.rename(out, old)
    os.rename(fresh, out)
    shutil.rmtree(old, ignore_errors=True)
    return out


def _counts(values: np.ndarray) -> dict[str, int]:
    names, counts = np.unique(values.astype(str), return_counts=True) if len(values) else ([], [])
    return {str(k): int(v) for k, v in zip(names, counts)}


def _plain(options: dict[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in sorted(options.items())}

