"""The EmoDB GAN result tables (the paper's Tables 2-4) from finished `gan_distill.py --curve` runs.

Per fold (--fold TEST VALID CHOSEN BASELINE: test speakers and validation speakers, comma-
separated, and the run folders of the chosen GAN and of the baseline GAN, no L_SML / L_DIV,
both trained on that fold's training speakers with those validation speakers held out):
each run's checkpoint is the curve point with the best validation-speaker UAR
(`gan_curve.select_point`; never test UAR), loaded from the generator the curve kept there.
Then, with the curve's downstream model and --seeds seeds (seed s trains on generated sample
1 + s, as the curve scored it):
- Table 2: generated-only UAR at 50 and 100 per class vs the real training clips (100 per
  class: the curve's own scores of the selected point, same seeds and samples); McNemar's
  exact test (pooled over the seed pairs) of the chosen against the baseline GAN and against real;
  downstream training time generated vs real;
- Table 3: full-size generated samples (as many clips as the real set), balanced and with the
  real class counts, vs the imbalanced real set;
- Table 4: the speaker probe (`gan_distill.speaker_probe`, the first conv block of each downstream
  model, the fold's training speakers) for real vs generated training;
- generator size vs the training audio and vs the training features.
Writes benchmarks/results/gan_emodb_final{tag}.{json,md}.

Usage: python benchmarks/gan_final.py --fold 03,08 13 RUN_CHOSEN RUN_BASELINE [--fold ...] [--seeds 3] [--tag ""]
       python benchmarks/gan_final.py --merge results/gan_emodb_final_f1.json results/gan_emodb_final_f2.json
Imports torch (through the GAN) and gan_distill / gan_curve beside it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np

from gan_curve import select_point
from gan_distill import RESULTS, downstream, load_emodb


def mcnemar(truth: np.ndarray, first: list[list[int]], second: list[list[int]]) -> dict:
    """McNemar's exact two-sided test on paired predictions, the seed pairs pooled: b = only `first`
    right, c = only `second` right; p = P(Binomial(b + c, 1/2) as extreme)."""
    right_a = np.concatenate([np.asarray(p) == truth for p in first])
    right_b = np.concatenate([np.asarray(p) == truth for p in second])
    b, c = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    n = b + c
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2 ** n if n else 1.0
    return {"only_first_right": b, "only_second_right": c, "p": min(1.0, 2 * tail)}


def evaluate_fold(test_speakers: str, valid_speakers: str, runs: dict[str, Path], seeds: int, cache: Path) -> dict:
    """Every table's figures for one fold; runs maps "chosen" / "baseline" to curve run folders."""
    import torch

    from edgedistill.methods.gan.artifact import load_generator, sample

    curves = {name: json.loads((run / "curve.json").read_text()) for name, run in runs.items()}
    settings = curves["chosen"]["settings"]
    data_args = argparse.Namespace(normalize=None, test_speakers=test_speakers.split(","), valid_speakers=valid_speakers.split(","),
                                   cache=cache)
    data = load_emodb(data_args)
    for name, curve in curves.items():
        if curve["settings"]["data"] != data.description:
            raise SystemExit(f"{runs[name]}: the run was trained on {curve['settings']['data']!r}, not {data.description!r}")
    train, test, valid = data.train, data.test, data.valid
    args = argparse.Namespace(seeds=seeds, downstream=settings["downstream"], downstream_width=settings["downstream_width"],
                              epochs=settings["epochs"])
    audio_bytes = sum((data.audio_root / p).stat().st_size for p in train.path)
    fold = {"test_speakers": test_speakers, "valid_speakers": valid_speakers, "data": data.description, "n_train": len(train),
            "n_test": len(test), "n_valid": len(valid), "n_classes": train.n_classes, "n_train_speakers": len(set(train.speaker)),
            "train_audio_bytes": int(audio_bytes), "train_feature_bytes": int(train.x.nbytes), "rows": {}, "runs": {}}
    rows = fold["rows"]
    rows["real"] = downstream(train.x, train.y, test, train.labels, args, probe=train, valid=valid)
    print(test_speakers, "real", rows["real"]["uar"], flush=True)
    n_balanced = round(len(train) / train.n_classes)
    real_counts = {i: int(c) for i, c in enumerate(train.class_counts())}
    for name, run in runs.items():
        point = select_point(curves[name])
        folder = run / "generators" / f"step-{point['step']}"
        gen = load_generator(folder)
        torch.manual_seed(0)
        fold["runs"][name] = {"run": str(run), "variant": curves[name]["settings"]["variant"], "gan": curves[name]["settings"]["gan"],
                              "selected_step": point["step"], "selected_valid_uar": point["valid_uar"],
                              "curve_test_uar_at_selected": point["uar"], "gan_train_s": point["gan_train_s"],
                              "generator_bytes": sum(f.stat().st_size for f in folder.iterdir()),
                              "curve": [{k: p.get(k) for k in ("step", "uar", "uar_std", "valid_uar", "valid_uar_std")}
                                        for p in curves[name]["points"]]}
        if settings["ppc"] != 100 or curves[name]["settings"]["seeds"] != seeds:
            raise SystemExit(f"{run}: the curve scored {curves[name]['settings']['ppc']} per class with "
                             f"{curves[name]['settings']['seeds']} seeds; these tables take 100 per class and {seeds} seeds from it")
        # 100 per class: the curve's own scoring of this point (same seeds and samples as `downstream` here)
        rows[f"{name} 100"] = {"uar": point["uar"], "uar_std": point["uar_std"], "uar_seeds": point["uar_seeds"],
                               "valid_uar": point["valid_uar"], "train_s": point["downstream_train_s"], "n": point["n"],
                               "test_pred": point["test_pred"]}
        budgets = [(50, 50, True)]
        if name == "chosen":
            budgets += [("full balanced", n_balanced, True), ("full, real class counts", real_counts, True)]
        for label, per_class, balanced in budgets:
            row = downstream(None, None, test, train.labels, args, probe=train, valid=valid,
                             resample=lambda seed, per_class=per_class: sample(gen, per_class, seed=1 + seed, balanced=balanced))
            rows[f"{name} {label}"] = row
            print(test_speakers, name, label, row["uar"], flush=True)
    truth = test.y
    fold["mcnemar"] = {
        "chosen vs baseline (100 per class)": mcnemar(truth, rows["chosen 100"]["test_pred"], rows["baseline 100"]["test_pred"]),
        "chosen (100 per class) vs real": mcnemar(truth, rows["chosen 100"]["test_pred"], rows["real"]["test_pred"]),
        "chosen full balanced vs real": mcnemar(truth, rows["chosen full balanced"]["test_pred"], rows["real"]["test_pred"]),
    }
    return fold


def write_tables(result: dict, tag: str) -> Path:
    stem = RESULTS / f"gan_emodb_final{tag}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    folds = result["folds"]
    seeds = result["seeds"]
    lines = [f"# GAN distillation on EmoDB: Tables 2-4 of the paper, {len(folds)} speaker-independent folds ({result['date']})", "",
             f"Machine: {result['machine']} (load average {result['load']}). Each fold: the GAN and the real baseline train on the "
             "fold's training speakers; the validation speakers are held out of both and pick each GAN's checkpoint (the curve "
             f"point with the best validation UAR, never test UAR); UAR on the test speakers. Every figure is the mean ± std over "
             f"{seeds} downstream seeds (seed s trains on generated sample 1 + s). Downstream: "
             f"{result['downstream']}. McNemar: exact two-sided test on the test clips, the {seeds} seed pairs pooled.", ""]
    for fold in folds:
        real = fold["rows"]["real"]
        chosen, base = fold["runs"]["chosen"], fold["runs"]["baseline"]
        lines += [f"## Test speakers {fold['test_speakers']}, validation speaker(s) {fold['valid_speakers']}", "",
                  f"{fold['n_train']} train clips ({fold['n_train_speakers']} speakers), {fold['n_valid']} validation, "
                  f"{fold['n_test']} test; chance UAR {1 / fold['n_classes']:.3f}. Chosen GAN: {_gan(chosen)}, selected step "
                  f"{chosen['selected_step']} (valid UAR {chosen['selected_valid_uar']:.3f}). Baseline GAN: {_gan(base)}, selected step "
                  f"{base['selected_step']} (valid UAR {base['selected_valid_uar']:.3f}).", "",
                  "Table 2 (generated only vs real; downstream training time):", "",
                  "| training data | clips | test UAR | ± | % of real | valid UAR | downstream train s | time vs real |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, row in fold["rows"].items():
            lines.append(f"| {name}{' (from the curve)' if name.endswith(' 100') else ''} | {row['n']} | {row['uar']:.3f} | {row['uar_std']:.3f} | {100 * row['uar'] / real['uar']:.0f} | "
                         f"{row['valid_uar']:.3f} | {row['train_s']:.1f} | {row['train_s'] / real['train_s']:.2f}x |")
        lines += ["", "| McNemar | only first right | only second right | p |", "|---|---|---|---|"]
        for name, test in fold["mcnemar"].items():
            lines.append(f"| {name} | {test['only_first_right']} | {test['only_second_right']} | {test['p']:.3g} |")
        lines += ["", f"Table 4 (speaker probe on the first conv block, {fold['n_train_speakers']} training speakers, chance "
                  f"{1 / fold['n_train_speakers']:.3f}; lower = less speaker identity): real {real['speaker_probe_acc']:.3f} ± "
                  f"{real['speaker_probe_std']:.3f}; "
                  + "; ".join(f"{name} {row['speaker_probe_acc']:.3f} ± {row['speaker_probe_std']:.3f}"
                              for name, row in fold["rows"].items() if "speaker_probe_acc" in row and name != "real") + ".", "",
                  f"Size: chosen generator {chosen['generator_bytes'] / 1e6:.2f} MB = "
                  f"{100 * chosen['generator_bytes'] / fold['train_audio_bytes']:.1f} % of the training audio "
                  f"({fold['train_audio_bytes'] / 1e6:.2f} MB WAV) and {100 * chosen['generator_bytes'] / fold['train_feature_bytes']:.1f} % "
                  f"of the training features ({fold['train_feature_bytes'] / 1e6:.2f} MB float32). GAN training (one-off): "
                  f"{chosen['gan_train_s']:.0f} s to the selected step on this CPU.", ""]
    summary = result["summary"]
    lines += ["## Over the folds", "",
              "| training data | mean test UAR | % of real |", "|---|---|---|"]
    for name, value in summary["uar"].items():
        lines.append(f"| {name} | {value:.3f} | {100 * value / summary['uar']['real']:.0f} |")
    lines += ["", f"Goal (generated only at 100 per class >= 90 % of real): "
              f"{'met' if summary['goal_met'] else 'not met'} ({100 * summary['uar']['chosen 100'] / summary['uar']['real']:.0f} %)."]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return stem


def summarise(folds: list[dict]) -> dict:
    """Mean test UAR of every row over the folds, and whether 100 generated per class reach 90 % of real."""
    uar = {name: float(np.mean([f["rows"][name]["uar"] for f in folds])) for name in folds[0]["rows"]}
    return {"uar": uar, "goal_met": bool(uar["chosen 100"] >= 0.9 * uar["real"])}


def _gan(run: dict) -> str:
    gan = run["gan"]
    return (f"{gan['arch']} {run['variant']} (lambda_sml {gan['lambda_sml']}, lambda_div {gan['lambda_div']}, ac_flood "
            f"{gan.get('ac_flood', 0.0)}, lr {gan['lr_g']}, width {gan['width']})")


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merge", nargs="+", type=Path, default=None,
                        help="instead: join the folds of these gan_emodb_final*.json files into one table (--tag names it)")
    parser.add_argument("--fold", nargs=4, action="append", metavar=("TEST", "VALID", "CHOSEN", "BASELINE"),
                        help="test speakers, validation speakers (comma-separated), chosen and baseline curve run folders")
    parser.add_argument("--seeds", type=int, default=3, help="downstream seeds per row (default 3)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/edgedistill-gan-bench"), help="feature cache folder")
    parser.add_argument("--tag", default="", help="suffix of the result file names")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    start = time.perf_counter()
    if args.merge:
        parts = [json.loads(p.read_text()) for p in args.merge]
        folds = [fold for part in parts for fold in part["folds"]]
        result = {**parts[0], "folds": folds, "summary": summarise(folds),
                  "eval_s": sum(p["eval_s"] for p in parts), "load": " / ".join(p["load"] for p in parts)}
        print(write_tables(result, args.tag).with_suffix(".md").read_text())
        return
    if not args.fold:
        parser.error("give --fold (or --merge)")
    folds = [evaluate_fold(test, valid, {"chosen": Path(chosen), "baseline": Path(base)}, args.seeds, args.cache)
             for test, valid, chosen, base in args.fold]
    result = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes"),
              "machine": f"{platform.machine()} {os.cpu_count()} cores (shared), torch {torch.__version__}, cpu",
              "load": " ".join(f"{v:.1f}" for v in os.getloadavg()), "seeds": args.seeds, "eval_s": round(time.perf_counter() - start),
              "downstream": "{downstream} width {downstream_width}, {epochs} epochs".format(
                  **json.loads((Path(args.fold[0][2]) / "curve.json").read_text())["settings"]),
              "folds": folds, "summary": summarise(folds)}
    print(write_tables(result, args.tag).with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
