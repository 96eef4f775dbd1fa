"""`edgedistill data`: list datasets, download them, synthesise keywords, prepare and inspect
feature caches. Torch-free (numpy, soundfile, soxr, espeak-ng through ctypes).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from edgedistill.cli import options as opt
from edgedistill.cli.output import emit, log

app = typer.Typer(help="Datasets: list, download, synthesise keywords, prepare cached features, inspect them.",
                  no_args_is_help=True)

JSON = opt.Json


@app.command("list")
def list_datasets(as_json: JSON = False) -> None:
    """List the registered datasets with their default preset and loader options."""
    from edgedistill.data.datasets import DESCRIPTIONS, loader_options
    from edgedistill.data.download import SOURCES

    data = {name: {"description": text, "preset": preset, "downloadable": name in SOURCES,
                   "options": {k: (str(v) if v is not None else None) for k, v in loader_options(name).items() if k != "seed"}}
            for name, (text, preset) in DESCRIPTIONS.items()}
    rows = [(n, d["description"], d["preset"], "yes" if d["downloadable"] else "",
             ", ".join(f"{k}={v}" for k, v in d["options"].items())) for n, d in data.items()]
    emit({"datasets": data}, as_json, title="Datasets", rows=rows,
         columns=("dataset", "what", "preset", "download", "options (--option key=value)"))


@app.command("prepare")
def prepare(
    dataset: Annotated[str, typer.Argument(help="Dataset name (see `edgedistill data list`).")],
    root: Annotated[Path, typer.Argument(help="The dataset's folder (or the manifest CSV for `manifest`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Feature cache directory to write.")],
    preset: Annotated[Optional[str], typer.Option(help="Feature preset (see `edgedistill features presets`); default: the dataset's (see `data list`).")] = None,
    option: Annotated[Optional[List[str]], typer.Option("--option", help="Loader option key=value, repeatable (e.g. words=yes,no).")] = None,
    fold: Annotated[Optional[int], typer.Option(help="Test fold (us8k, esc50) or session (iemocap); default: keep the folds only.")] = None,
    on_error: Annotated[str, typer.Option(help="raise: stop at the first bad file; skip: leave it out and report it.")] = "raise",
    workers: Annotated[int, typer.Option(help="Extraction processes.")] = 1,
    seed: opt.Seed = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing cache made from other inputs.")] = False,
    as_json: JSON = False,
) -> None:
    """Decode, resample and featurise a dataset into a cached feature set (nothing to do when up to date)."""
    from edgedistill.data.datasets import DESCRIPTIONS, loader_options
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.data.prepare import prepare as run_prepare

    accepted = loader_options(dataset)
    options = parse_options(option or [], accepted)
    if fold is not None:
        key = "session" if "session" in accepted else "fold"
        if key not in accepted:
            raise ValueError(f"--fold: dataset {dataset!r} has no folds; its options: {', '.join(accepted)}")
        options[key] = fold
    preset = preset or DESCRIPTIONS[dataset][1]
    start = time.perf_counter()
    path = run_prepare(dataset, root, preset, out, on_error=on_error, workers=workers, seed=seed, force=force, **options)
    seconds = time.perf_counter() - start
    summary = describe(FeatureSet.load(path))
    summary.update(seconds=round(seconds, 3), files_per_s=round(summary["n_items"] / seconds, 1))
    show(summary, as_json, title=f"Prepared {path}")


@app.command("info")
def info(
    features: Annotated[Path, typer.Argument(help="A feature cache directory written by `data prepare`.")],
    as_json: JSON = False,
) -> None:
    """Classes, counts per split and fold, durations and settings of a feature cache."""
    from edgedistill.data.featureset import FeatureSet

    show(describe(FeatureSet.load(features)), as_json, title=str(features))


def show(summary: dict, as_json: bool, title: str) -> None:
    """One JSON object, or a table of the summary fields and a table of counts per class and split."""
    if as_json:
        emit(summary, True)
        return
    emit(summary, False, title=title, rows=[(k, v) for k, v in summary.items() if k not in ("labels", "class_counts", "per_split")])
    splits = list(summary["per_split"])
    rows = [(label, *[summary["per_split"][s][label] for s in splits], total) for label, total in summary["class_counts"].items()]
    emit(summary, False, title="Clips per class", rows=rows, columns=("class", *splits, "total"))


def describe(fs) -> dict:
    """A JSON-ready summary of a FeatureSet (used by `prepare` and `info`)."""
    import numpy as np

    extra = fs.meta.extra if fs.meta else {}
    duration = fs.duration[np.isfinite(fs.duration)]
    by_split = {s: {label: int(((fs.split == s) & (fs.y == k)).sum()) for k, label in enumerate(fs.labels)}
                for s in ("train", "valid", "test") if (fs.split == s).any()}
    return {
        "source_root": extra.get("root", ""), "dataset": fs.dataset, "n_items": len(fs), "n_classes": fs.n_classes,
        "labels": list(fs.labels), "feature_id": fs.feature_id, "shape": list(fs.config.shape),
        "split_counts": {s: sum(c.values()) for s, c in by_split.items()}, "fold_counts": extra.get("fold_counts", {}),
        "n_speakers": len(extra.get("speakers", [])), "protocol": extra.get("protocol", ""),
        "duration_s": {"total": round(float(duration.sum()), 2), "mean": round(float(duration.mean()), 3) if len(duration) else None,
                       "min": round(float(duration.min()), 3) if len(duration) else None,
                       "max": round(float(duration.max()), 3) if len(duration) else None},
        "skipped": len(extra.get("skipped", [])), "notes": extra.get("notes", []),
        "class_counts": {label: int(c) for label, c in zip(fs.labels, fs.class_counts())}, "per_split": by_split,
    }


def parse_options(pairs: list[str], accepted: dict) -> dict:
    """key=value strings -> loader options, converted to the type of each option's default."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in accepted or key == "seed":
            raise ValueError(f"--option {pair!r}: expected key=value with key one of {', '.join(k for k in accepted if k != 'seed')}")
        default = accepted[key]
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"--option {key}: expected true or false, got {value!r}")
            options[key] = value.lower() in ("true", "1", "yes")
        elif isinstance(default, (int, float)) or (default is None and value.lstrip("-").isdigit()):
            try:
                options[key] = (float if isinstance(default, float) else int)(value)
            except ValueError:
                raise ValueError(f"--option {key}: expected a number, got {value!r}") from None
        else:
            options[key] = value
    return options


@app.command("synth")
def synth(
    out: Annotated[Path, typer.Argument(help="New folder for the WAVs (folder layout) and manifest.csv.")],
    words: Annotated[str, typer.Option(help="Comma-separated words.")] = "yes,no,up,down,left,right,on,off,stop,go",
    per_word: Annotated[int, typer.Option(help="Clips per word.")] = 60,
    seed: opt.Seed = 0,
    speakers: Annotated[Optional[int], typer.Option(help="Synthetic speakers (default max(10, per_word // 3)).")] = None,
    noise_dir: Annotated[Optional[Path], typer.Option(help="Folder of noise recordings (default: generated coloured noise).")] = None,
    snr_min: Annotated[float, typer.Option(help="Lowest signal-to-noise ratio in dB.")] = 10.0,
    snr_max: Annotated[float, typer.Option(help="Highest signal-to-noise ratio in dB.")] = 30.0,
    sample_rate: Annotated[int, typer.Option(help="Output sample rate in Hz.")] = 16000,
    workers: Annotated[int, typer.Option(help="Synthesis processes.")] = 1,
    as_json: JSON = False,
) -> None:
    """Synthesise spoken keywords offline with espeak-ng voices, noise and speaker variation."""
    from edgedistill.data.synth import synthesize

    start = time.perf_counter()
    path = synthesize(out, words, per_word, seed, speakers=speakers, noise_dir=noise_dir, snr_db=(snr_min, snr_max),
                      sample_rate=sample_rate, workers=workers)
    seconds = time.perf_counter() - start
    n = sum(1 for _ in path.glob("*/*.wav"))
    log.print(f"wrote {n} clips to {path}; prepare them with `edgedistill data prepare synth {path} --out FEAT`")
    emit({"out": str(path), "n_clips": n, "words": words.split(","), "seed": seed, "seconds": round(seconds, 3),
          "clips_per_s": round(n / seconds, 1)}, as_json, title="Synthesised")


@app.command("download")
def download(
    dataset: Annotated[str, typer.Argument(help="gsc, gsc-v0.01, us8k, esc50 or fsdd.")],
    root: Annotated[Path, typer.Argument(help="Folder to download and extract into.")],
    url: Annotated[Optional[str], typer.Option(help="Mirror URL instead of the official one.")] = None,
    checksum: Annotated[Optional[str], typer.Option(help="Expected sha256:HEX or md5:HEX (default: the published one).")] = None,
    max_gb: Annotated[float, typer.Option(help="Refuse downloads larger than this many GiB.")] = 16.0,
    as_json: JSON = False,
) -> None:
    """Download (resumable), verify and safely extract an official dataset release."""
    from edgedistill.data.download import GIB
    from edgedistill.data.download import download as run_download

    path = run_download(dataset, root, url=url, checksum=checksum, max_bytes=int(max_gb * GIB))
    emit({"dataset": dataset, "path": str(path)}, as_json, title="Downloaded")
