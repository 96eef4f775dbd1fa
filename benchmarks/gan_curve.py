"""The long, resumable GAN run of `gan_distill.py --curve K`: generated-only UAR vs steps and wall time.

One generator (the first --variants entry of gan_distill.py) trains to --steps in chunks of K
generator steps; each chunk resumes the training state saved by the last one
(`edgedistill.methods.gan.loop.distill(..., checkpoint, resume=True)`, bit-exact with one
straight run), then the generator is scored: --ppc[-1] samples per class train the downstream
model (--seeds times) and its UAR on the test speakers is one point of the curve. The curve
(run-dir/curve.json) and the state survive an interrupted run: the same command continues from
the last scored point. After every point the results are rewritten atomically:
benchmarks/results/gan_{dataset}_curve{tag}.csv (one row per point), .md (settings + table) and
.png (UAR vs generator steps and vs GAN wall time, real-data UAR and chance as lines).
Imports torch (through the GAN); matplotlib for the figure.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
COLUMNS = ("step", "gan_train_s", "eval_s", "uar", "uar_std", "valid_uar", "valid_uar_std", "n", "downstream_train_s", "ac_real_end", "aux_valid_uar",
           "pool_uar_on_generated", "loss_d", "loss_g", "finished_utc")


def run_curve(args: argparse.Namespace, data: Any, name: str, downstream: Callable, gan_config: Callable) -> dict:
    """Train (or continue) the curve run of `args` on `data` (a gan_distill.Split); returns the curve."""
    import torch

    from edgedistill.methods.gan.artifact import sample, save_generator
    from edgedistill.methods.gan.loop import distill

    variant = args.variants[0]
    config = gan_config(args, variant).replace(checkpoint_every=args.curve)
    run = args.run_dir or args.cache / f"curve-{args.dataset}-{variant}-{args.arch}{args.tag}"
    run.mkdir(parents=True, exist_ok=True)
    train, test, valid, ppc = data.train, data.test, data.valid, args.ppc[-1]
    settings = {"dataset": args.dataset, "data": data.description, "variant": variant, "gan": config.replace(steps=1).to_dict(),
                "ppc": ppc, "downstream": args.downstream, "downstream_width": args.downstream_width, "epochs": args.epochs,
                "seeds": args.seeds, "every": args.curve}
    curve_path = run / "curve.json"
    if curve_path.exists():
        curve = json.loads(curve_path.read_text())
        if curve["settings"] != settings:
            differs = sorted(k for k in settings if curve["settings"].get(k) != settings[k])
            raise SystemExit(f"{curve_path}: this run was started with other settings ({', '.join(differs)}); "
                             "pass another --run-dir (or --tag) for a new run")
    else:
        curve = {"settings": settings, "machine": f"{platform.machine()} {os.cpu_count()} cores (shared), torch "
                 f"{torch.__version__}, {'cuda' if torch.cuda.is_available() else 'cpu'}",
                 "started_utc": _now(), "n_train": len(train), "n_test": len(test), "n_classes": train.n_classes,
                 "real": None, "points": []}
    if curve["real"] is None:
        start = time.perf_counter()
        curve["real"] = {**downstream(train.x, train.y, test, train.labels, args, valid=valid), "eval_s": time.perf_counter() - start}
        _write_json(curve_path, curve)
        print("real", {k: v for k, v in curve["real"].items() if k != "test_pred"}, flush=True)
    step = curve["points"][-1]["step"] if curve["points"] else 0
    gan_seconds = curve["points"][-1]["gan_train_s"] if curve["points"] else 0.0
    while step < args.steps:
        target = min(step + args.curve, args.steps)
        start = time.perf_counter()
        state = run / "state" / "state.pt"
        gen = distill(train, config.replace(steps=target), progress=False, valid=test, checkpoint=run / "state",
                      resume=state.exists())
        gan_seconds += time.perf_counter() - start
        start = time.perf_counter()
        save_generator(run / "generators" / f"step-{target}", gen, seed=0)  # for the tables of a selected point
        row = downstream(None, None, test, train.labels, args, valid=valid,
                         resample=lambda seed: sample(gen, ppc, seed=1 + seed))  # a fresh sample per downstream seed
        last = gen.history[-5:]
        point = {"step": target, "gan_train_s": round(gan_seconds, 1), "eval_s": round(time.perf_counter() - start, 1),
                 "uar": row["uar"], "uar_std": row["uar_std"], "valid_uar": row.get("valid_uar"),
                 "valid_uar_std": row.get("valid_uar_std"), "uar_seeds": row["uar_seeds"], "test_pred": row["test_pred"], "n": row["n"], "downstream_train_s": round(row["train_s"], 2),
                 "ac_real_end": float(np.mean([h["ac_real"] for h in last])), "aux_valid_uar": gen.metrics.get("aux_valid_uar"),
                 "pool_uar_on_generated": gen.metrics.get("pool_uar_on_generated"),
                 "loss_d": float(np.mean([h["loss_d"] for h in last])), "loss_g": float(np.mean([h["loss_g"] for h in last])),
                 "finished_utc": _now()}
        curve["points"].append(point)
        _write_json(curve_path, curve)
        write_results(curve, name, args.tag)
        print({k: v for k, v in point.items() if k != "test_pred"}, flush=True)
        step = target
    write_results(curve, name, args.tag)
    return curve


def write_results(curve: dict, name: str, tag: str) -> Path:
    """benchmarks/results/gan_{dataset}_curve{tag}.{csv,md,png} from the curve (atomic writes)."""
    settings, real, points = curve["settings"], curve["real"], curve["points"]
    stem = RESULTS / f"gan_{settings['dataset']}_curve{tag}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(COLUMNS)
    for p in points:
        writer.writerow([_cell(p.get(c)) for c in COLUMNS])
    _write_text(stem.with_suffix(".csv"), table.getvalue())
    gan = settings["gan"]
    best = max(points, key=lambda p: p["uar"]) if points else None
    selected = select_point(curve)
    selection = (f"Selected by the validation speakers' UAR (never by test UAR): step {selected['step']}, valid UAR "
                 f"{selected['valid_uar']:.3f}, test UAR {selected['uar']:.3f} ± {selected['uar_std']:.3f} "
                 f"({selected['uar'] / real['uar']:.0%} of real; real on the validation speakers {real['valid_uar']:.3f})."
                 if selected and real else "")
    lines = [f"# GAN distillation on {name}: generated-only UAR along a long run ({curve['started_utc']} - "
             f"{points[-1]['finished_utc'] if points else 'running'})", "",
             f"Machine: {curve['machine']}. Data: {settings['data']}; {curve['n_train']} train / {curve['n_test']} test clips, "
             f"chance UAR {1 / curve['n_classes']:.3f}. GAN: {gan['arch']} variant {settings['variant']} (lambda_sml "
             f"{gan['lambda_sml']}, lambda_div {gan['lambda_div']}), z {gan['z_dim']}, width {gan['width']}, batch "
             f"{gan['batch_size']}, n_critic {gan['n_critic']}, lr {gan['lr_g']} / {gan['lr_d']}, critic aux CE flood level "
             f"{gan.get('ac_flood', 0.0)}, seed {gan['seed']}. Every "
             f"{settings['every']} generator steps: {settings['ppc']} generated clips per class train the downstream "
             f"{settings['downstream']} (width {settings['downstream_width']}, {settings['epochs']} epochs, {settings['seeds']} "
             "seed(s)); UAR on the test speakers. GAN s: cumulative wall time of the GAN training chunks on a shared, "
             "niced CPU (compare within this run only).", "",
             f"Real data (all {real['n']} train clips): UAR {real['uar']:.3f} ± {real['uar_std']:.3f}." if real else "",
             f"Best generated point so far: UAR {best['uar']:.3f} at step {best['step']} ({best['uar'] / real['uar']:.0%} of real)."
             if best and real else "", selection, "",
             "| step | GAN s | UAR | ± | % of real | valid UAR | ± | critic aux CE real | critic aux UAR test | pool UAR on generated "
             "| loss_d | loss_g |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in points:
        share = f"{100 * p['uar'] / real['uar']:.0f}" if real else "-"
        mark = " (selected)" if selected is p else ""
        lines.append(f"| {p['step']}{mark} | {p['gan_train_s']:.0f} | {p['uar']:.3f} | {p['uar_std']:.3f} | {share} | "
                     f"{_cell(p.get('valid_uar'))} | {_cell(p.get('valid_uar_std'))} | "
                     f"{_cell(p['ac_real_end'])} | {_cell(p['aux_valid_uar'])} | {_cell(p['pool_uar_on_generated'])} | "
                     f"{p['loss_d']:.3f} | {p['loss_g']:.3f} |")
    _write_text(stem.with_suffix(".md"), "\n".join(lines) + "\n")
    if points:
        _plot(stem.with_suffix(".png"), curve, name)
    return stem


def select_point(curve: dict) -> dict | None:
    """The point with the best mean validation UAR (the earliest of equals), or None without validation speakers."""
    scored = [p for p in curve["points"] if p.get("valid_uar") is not None]
    return max(scored, key=lambda p: (p["valid_uar"], -p["step"])) if scored else None


def _plot(path: Path, curve: dict, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points, real = curve["points"], curve["real"]
    steps = [p["step"] for p in points]
    seconds = [p["gan_train_s"] / 60 for p in points]
    uar = [p["uar"] for p in points]
    spread = [p["uar_std"] for p in points]
    valid = [p.get("valid_uar") for p in points]
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for axis, xs, label in ((axes[0], steps, "generator steps"), (axes[1], seconds, "GAN training wall time (min)")):
        axis.errorbar(xs, uar, yerr=spread, marker="o", ms=3, capsize=2,
                      label=f"generated only, {curve['settings']['ppc']} per class (test; ± std over seeds)")
        if all(v is not None for v in valid):
            axis.plot(xs, valid, marker="s", ms=3, ls="--", label="generated only, validation speakers")
        if real:
            axis.axhline(real["uar"], color="k", ls="--", lw=1, label=f"real data ({real['uar']:.3f})")
            axis.axhline(0.9 * real["uar"], color="g", ls=":", lw=1, label="90 % of real")
        axis.axhline(1 / curve["n_classes"], color="grey", ls=":", lw=1, label="chance")
        axis.set_xlabel(label)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("test UAR")
    axes[0].legend(fontsize=7, loc="lower right")
    figure.suptitle(f"GAN ({curve['settings']['gan']['arch']}, {curve['settings']['variant']}) on {name}", fontsize=10)
    figure.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    figure.savefig(tmp, dpi=110, format="png")
    plt.close(figure)
    os.replace(tmp, path)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes")


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_json(path: Path, data: dict) -> None:
    _write_text(path, json.dumps(data, indent=1) + "\n")
