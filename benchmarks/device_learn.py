"""On-device learning benchmark: add one new keyword from 3, 5 and 10 user clips, and adapt to an unseen speaker.

Artifacts from benchmarks/device_kws_setup.py (synthesised keywords; old classes yes no up down
left right _unknown_ _silence_, new word `stop`). For each device model (`krr` on the RFAD
coreset's random-feature nets; `head` on a frozen cnn4 trunk exported here) and k in {3, 5, 10}
clips of `stop` from one training speaker (seeded), `edgedistill device learn` runs in its own
process (one core: OMP/OpenBLAS threads 1, onnxruntime 1 thread) with each replay source:
coreset (10/class), generator samples (10/class drawn on the device), random real clips
(10/class of the train split), none (new clips only); the ceiling is a retrain on all real
training clips of all 9 classes (same mode, run through `device train`). Scored on the test
split (speakers never seen): accuracy on the old classes before/after, on the new class; and the
share of the user's other clips of the word (same speaker, not learned from) recognised as it.
Speaker adaptation: for each held-out speaker (test and valid splits), 5 of their clips per
class (old words and _unknown_) with coreset replay; accuracy on the rest of their clips before
and after. Wall time and peak resident memory are those of the learn process.

Usage: python benchmarks/device_learn.py [WORK] [--seeds 3] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

EXE = str(Path(sys.executable).parent / "edgedistill")
ONE_CORE = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
OLD = ["yes", "no", "up", "down", "left", "right"]
UNKNOWN = ["on", "off", "go"]
NOTES = "## Notes"


def cli(*args) -> dict:
    """Run `edgedistill ARGS --json` on one core; the last stdout line parsed, plus wall time and peak RSS of the child."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", EXE, *map(str, args), "--json"], capture_output=True, text=True, env=ONE_CORE)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{args}: {proc.stderr[-1500:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    data["process_wall_s"] = wall
    data["process_peak_rss_mb"] = int(proc.stderr.strip().splitlines()[-1]) / 1024
    return data


def manifest(work: Path) -> list[dict]:
    with open(work / "synth" / "manifest.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def link_folder(out: Path, files: dict[str, list[Path]]) -> Path:
    """out/<class>/*.wav as symlinks."""
    for label, paths in files.items():
        (out / label).mkdir(parents=True, exist_ok=True)
        for p in paths:
            (out / label / f"{p.parent.name}_{p.name}").symlink_to(p)
    return out


def export_backbone(work: Path) -> Path:
    """The trained cnn4 of cnn_run without its classifier (features -> embedding) as an export dir (host side, torch)."""
    out = work / "backbone"
    if out.exists():
        return out
    import torch
    from torch import nn

    from edgedistill.artifacts import Meta, write_artifact
    from edgedistill.device.features import FeatureConfig
    from edgedistill.model_artifact import load_model

    module = load_model(work / "cnn_run").module.eval()
    module.classifier = nn.Identity()
    config = FeatureConfig.from_dict(json.loads((work / "cnn_run" / "meta.json").read_text())["feature_config"])
    example = (torch.zeros(2, *config.shape),)
    meta = Meta(schema="edgedistill.export", feature_config=config.to_dict(), feature_id=config.feature_id, labels=[],
                method={"name": "cnn4-trunk", "source": str(work / "cnn_run")}, seed=0, extra={"kind": "backbone", "formats": ["onnx"]})

    def payload(tmp: Path) -> None:
        batch = torch.export.Dim("batch", min=1, max=1024)
        with torch.no_grad():
            torch.onnx.export(module, example, str(tmp / "model.fp32.onnx"), input_names=["features"], output_names=["embedding"],
                              dynamic_shapes=({0: batch},), dynamo=True, external_data=False, verbose=False)

    return write_artifact(out, meta, payload)


def old_models(work: Path) -> dict[str, Path]:
    models = {"krr": work / "krr_old"}
    if (work / "cnn_run").exists():
        head_old = work / "head_old"
        if not head_old.exists():
            cli("device", "train", "head", export_backbone(work), "--data", work / "feat_old", "--data-split", "train", "--out", head_old)
        models["head"] = head_old
    if "--with-full" in sys.argv:
        for name, feats in (("step8", "feat_old"), ("step9", "feat_all")):
            if not (work / name).exists():
                cli("device", "build-step", "--features", work / feats, "--out", work / name)
        if not (work / "full_old").exists():
            cli("device", "train", "full", work / "step8", "--data", work / "feat_old", "--data-split", "train", "--out", work / "full_old")
        models["full"] = work / "full_old"
    return models


def eval_set(work: Path) -> Path:
    """feat_all's test and valid rows (the two held-out speakers and their noise clips) as one `test` split."""
    out = work / "feat_eval"
    if not out.exists():
        from edgedistill.data.featureset import FeatureSet

        full = FeatureSet.load(work / "feat_all")
        keep = np.isin(full.split, ["test", "valid"])
        FeatureSet(x=full.x[keep], y=full.y[keep], labels=full.labels, config=full.config, split=np.full(int(keep.sum()), "test", dtype=object),
                   speaker=full.speaker[keep], path=full.path[keep], duration=full.duration[keep], dataset="synth-kws-eval").save(out)
    return out


def ceiling_scores(model: Path, work: Path) -> dict:
    """Accuracy of a retrained-on-everything model on the test split: old classes and the new class."""
    from edgedistill.device.predictor import load_predictor
    from edgedistill.device.trainset import load_labelled

    predictor = load_predictor(model)
    data = load_labelled(eval_set(work), predictor.feature_config, "test").aligned_to(predictor.labels)
    pred = predictor.logits(data.x).argmax(1)
    new = data.y == predictor.labels.index("stop")
    return {"old_class_accuracy_after": float(np.mean(pred[~new] == data.y[~new])), "new_class_accuracy": float(np.mean(pred[new] == data.y[new]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", nargs="?", default="/tmp/edgedistill-device-bench")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    parser.add_argument("--replays", default="coreset,generator,random real,none", help="comma-separated replay sources to run")
    parser.add_argument("--append", action="store_true", help="add these runs (and speaker-adaptation rows) to the stored device_learn.json")
    parser.add_argument("--with-full", action="store_true", help="also the `full` mode (train-step graphs built here for 8 and 9 classes)")
    parser.add_argument("--modes", default="", help="comma-separated modes to run (default: all built)")
    opts = parser.parse_args()
    work, results = Path(opts.work), Path(opts.out)
    runs_dir = work / f"runs-{dt.datetime.now():%Y%m%d-%H%M%S}"
    rows = manifest(work)
    models = old_models(work)
    if opts.modes:
        models = {k: v for k, v in models.items() if k in opts.modes.split(",")}
    evaluation = eval_set(work)
    ceiling = {}
    for mode in models:
        graphs = {"krr": work / "rf", "head": work / "backbone", "full": work / "step9"}
        # krr: the ridge that scored best on the evaluation clips (0.1 of 1e-4..1; measured), so the ceiling is generous
        extra = ["--reg", "0.1"] if mode == "krr" else []
        if not (work / f"{mode}_all").exists():
            cli("device", "train", mode, graphs[mode], "--data", work / "feat_all", "--data-split", "train", *extra, "--out", work / f"{mode}_all")
        ceiling[mode] = ceiling_scores(work / f"{mode}_all", work)
    replays = {"coreset": ["--replay", work / "coreset"],
               "generator": ["--replay", work / "gan_export", "--replay-ppc", "10"] if (work / "gan_export").exists() else None,
               "random real": ["--replay", work / "feat_old", "--replay-ppc", "10"],
               "none": []}
    replays = {k: v for k, v in replays.items() if k in opts.replays.split(",")}
    train_speakers = sorted({r["speaker"] for r in rows if r["split"] == "train"})
    table = []
    for seed in range(opts.seeds):
        rng = np.random.default_rng(seed)
        speaker = str(rng.choice(train_speakers))
        stop = [work / "synth" / r["path"] for r in rows if r["label"] == "stop" and r["speaker"] == speaker]
        order = rng.permutation(len(stop))
        for k in (3, 5, 10):
            new = link_folder(runs_dir / f"new_s{seed}_k{k}", {"stop": [stop[i] for i in order[:k]]})
            own = link_folder(runs_dir / f"own_s{seed}_k{k}", {"stop": [stop[i] for i in order[k:]]}) if k < len(stop) else None
            for mode, model in models.items():
                for name, args in replays.items():
                    if args is None:
                        continue
                    extra = ["--seed", seed] if mode != "krr" else []
                    extra += ["--step", work / "step9"] if mode == "full" else []
                    out = runs_dir / f"{mode}_{name.replace(' ', '_')}_s{seed}_k{k}"
                    res = cli("device", "learn", model, new, *args, *extra, "--eval", evaluation, "--eval-split", "test", "--out", out)
                    table.append({"mode": mode, "replay": name, "clips": k, "seed": seed, "speaker": speaker,
                                  "old_before": res["old_class_accuracy_before"], "old_after": res["old_class_accuracy_after"],
                                  "old_drop_points": res["old_class_drop_points"], "new_acc": res["new_class_accuracy"],
                                  "new_vs_ceiling": res["new_class_accuracy"] / max(ceiling[mode]["new_class_accuracy"], 1e-9),
                                  "train_s": res["train_seconds"], "load_s": res["load_seconds"],
                                  "learn_s": res["train_seconds"] + res["load_seconds"], "process_s": res["process_wall_s"],
                                  "peak_rss_mb": res["process_peak_rss_mb"], "n_replay": res["n_replay"],
                                  "own_acc": own_accuracy(out, own) if own else None})
                    print(json.dumps(table[-1]), flush=True)
    adaptation = speaker_adaptation(work, rows, models, runs_dir)
    if opts.append:
        stored = json.loads((results / "device_learn.json").read_text())
        table, adaptation = stored["runs"] + table, stored["speaker_adaptation"] + adaptation
        ceiling = {**stored["ceiling"], **ceiling}
    write_results(results, table, ceiling, adaptation, opts.seeds)


def own_accuracy(model: Path, folder: Path) -> float:
    """Share of the user's other clips of the new word (not learned from) that the learned model calls that word."""
    from edgedistill.device.predictor import load_predictor
    from edgedistill.device.trainset import load_labelled

    predictor = load_predictor(model)
    data = load_labelled(folder, predictor.feature_config).aligned_to(predictor.labels)
    return float(np.mean(predictor.logits(data.x).argmax(1) == data.y))


def speaker_adaptation(work: Path, rows: list[dict], models: dict[str, Path], runs_dir: Path) -> list[dict]:
    out = []
    unseen = sorted({r["speaker"] for r in rows if r["split"] in ("test", "valid")})
    for speaker in unseen:
        mine = [r for r in rows if r["speaker"] == speaker and r["label"] != "stop"]
        adapt, held = {}, {}
        for r in mine:
            label = "_unknown_" if r["label"] in UNKNOWN else r["label"]
            (adapt if len(adapt.get(label, [])) < 5 else held).setdefault(label, []).append(work / "synth" / r["path"])
        adapt_dir = link_folder(runs_dir / f"adapt_{speaker}", adapt)
        held_dir = link_folder(runs_dir / f"held_{speaker}", held)
        for mode, model in models.items():
            step = ["--step", work / "step8"] if mode == "full" else []
            res = cli("device", "learn", model, adapt_dir, "--replay", work / "coreset", *step, "--eval", held_dir,
                      "--out", runs_dir / f"adapt_{mode}_{speaker}")
            out.append({"mode": mode, "speaker": speaker, "clips_per_class": 5, "n_eval": res["n_eval_old"],
                        "before": res["old_class_accuracy_before"], "after": res["old_class_accuracy_after"],
                        "train_s": res["train_seconds"], "peak_rss_mb": res["process_peak_rss_mb"]})
            print(json.dumps(out[-1]), flush=True)
    return out


def environment() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    return {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": f"{platform.machine()}, {cpu}, {os.cpu_count()} cores",
            "python": platform.python_version(), "load_average": [round(v, 2) for v in os.getloadavg()]}


def write_results(results: Path, table: list[dict], ceiling: dict, adaptation: list[dict], seeds: int) -> None:
    results.mkdir(parents=True, exist_ok=True)
    env = environment()
    (results / "device_learn.json").write_text(json.dumps({"environment": env, "runs": table, "ceiling": ceiling,
                                                           "speaker_adaptation": adaptation}, indent=1) + "\n")
    with open(results / "device_learn.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    lines = [f"# On-device learning: add `stop` from k clips of one speaker; speaker adaptation", "",
             f"{env['date']} · {env['machine']} · load average {env['load_average']} · {seeds} seeds (user speaker and clips) · "
             "each learn in its own process on one core (OMP/OpenBLAS 1 thread, onnxruntime 1 thread)", "",
             "Old classes: yes no up down left right _unknown_ _silence_ (test split, unseen speakers). Mean ± std over seeds; "
             "`drop` = old-class accuracy before − after, in points; `new / ceiling` = new-class accuracy relative to the "
             "retrain on all real training clips of all 9 classes (same mode). `head` learns with the default `--freeze-old` "
             "(only the new class's output column trains; replay clips are its negatives). `learn s` = reading the user's WAVs and the replay "
             "source + training (what the device spends); `own %` = the user's other clips of `stop` (the same speaker, not learned from: "
             "7 / 5 / none for 3 / 5 / 10 clips) recognised as `stop`; `process s` = the whole `device learn` process (Python start, imports, "
             "scoring the old and new model on the evaluation clips, writing the model); peak RSS of that process.", "",
             "| mode | replay | clips | old before % | old after % | drop (points) | new class % | new / ceiling | own % | learn s | process s | peak RSS MB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    keys = sorted({(r["mode"], r["replay"], r["clips"]) for r in table}, key=lambda t: (["head", "full", "krr"].index(t[0]), ["coreset", "generator", "random real", "none"].index(t[1]), t[2]))
    for mode, replay, k in keys:
        group = [r for r in table if (r["mode"], r["replay"], r["clips"]) == (mode, replay, k)]
        def ms(key, scale=100.0, fmt="{:.1f}"):  # noqa: E306
            v = np.array([r[key] for r in group]) * scale
            return f"{fmt.format(v.mean())} ± {fmt.format(v.std())}"
        lines.append(f"| {mode} | {replay} | {k} | {ms('old_before')} | {ms('old_after')} | {ms('old_drop_points', 1.0)} | {ms('new_acc')} | "
                     f"{ms('new_vs_ceiling', 1.0, '{:.2f}')} | {ms('own_acc') if group[0].get('own_acc') is not None else '—'} | {ms('learn_s', 1.0, '{:.2f}')} | {ms('process_s', 1.0, '{:.1f}')} | {np.max([r['peak_rss_mb'] for r in group]):.0f} |")
    lines += ["", "Ceiling (retrain on all real training clips, 9 classes, same mode):", "",
              "| mode | old classes % | new class % |", "|---|---:|---:|"]
    for mode, c in ceiling.items():
        lines.append(f"| {mode} | {100 * c['old_class_accuracy_after']:.1f} | {100 * c['new_class_accuracy']:.1f} |")
    if adaptation:
        lines += ["", "Speaker adaptation (5 clips per class of an unseen speaker, coreset replay; accuracy on the rest of their clips):", "",
                  "| mode | speaker | eval clips | before % | after % | learn s | peak RSS MB |", "|---|---|---:|---:|---:|---:|---:|"]
        for r in adaptation:
            lines.append(f"| {r['mode']} | {r['speaker']} | {r['n_eval']} | {100 * r['before']:.1f} | {100 * r['after']:.1f} | {r['train_s']:.2f} | {r['peak_rss_mb']:.0f} |")
    md = results / "device_learn.md"
    kept = md.read_text().split(NOTES, 1) if md.exists() else []
    notes = NOTES + kept[1] if len(kept) == 2 else ""  # the hand-written notes section survives a rerun
    md.write_text("\n".join(lines) + "\n" + ("\n" + notes if notes else ""))
    plot(results, table)


def plot(results: Path, table: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = sorted({r["mode"] for r in table})
    fig, axes = plt.subplots(2, len(modes), figsize=(5 * len(modes), 6), squeeze=False)
    for j, mode in enumerate(modes):
        for replay in ["coreset", "generator", "random real", "none"]:
            group = [r for r in table if r["mode"] == mode and r["replay"] == replay]
            if not group:
                continue
            ks = sorted({r["clips"] for r in group})
            for i, key in enumerate(("new_acc", "old_drop_points")):
                vals = [np.mean([r[key] * (100 if key == "new_acc" else 1) for r in group if r["clips"] == k]) for k in ks]
                axes[i, j].plot(ks, vals, marker="o", label=replay)
        axes[0, j].set_title(f"{mode}: new class accuracy %")
        axes[1, j].set_title(f"{mode}: old-class drop (points)")
        axes[1, j].set_xlabel("user clips of the new word")
        axes[0, j].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(results / "device_learn.png", dpi=110)


if __name__ == "__main__":
    main()
