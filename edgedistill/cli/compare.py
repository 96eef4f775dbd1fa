"""`edgedistill compare FEAT`: the paper's table (full data, active learning, random, coresets,
generators) for any feature cache, resumable, with a Markdown/CSV/JSON report and a PNG plot.

Thin shell over `edgedistill.compare`; training options are `TrainConfig`'s fields and the
active-learning ones `ALConfig`'s. torch is imported in the worker processes only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, List, Optional

import typer

from edgedistill.cli import options as opt
from edgedistill.cli.output import emit, log
from edgedistill.methods.active_learning import ALConfig
from edgedistill.train_config import TrainConfig

_csv = opt.csv


@opt.config_options(skip={"al": ("strategy", "budget", "initial", "seed"), "train_config": ("seed", "nproc")},
                    al=ALConfig, train_config=TrainConfig)
def compare(
    feat: opt.Feat,
    out: Annotated[Path, typer.Option("--out", "-o", help="Report directory; an existing one is resumed (same settings only).")],
    strategies: Annotated[str, typer.Option(help="Comma-separated acquisition strategies "
                                                 "(random, entropy, variation-ratios, bald, margin).")] = "entropy,variation-ratios,bald,random",
    budgets: Annotated[str, typer.Option(help="Comma-separated AL budgets: percentages of the train split or counts.")] = "60%,40%,30%,20%",
    coreset: Annotated[Optional[List[Path]], typer.Option("--coreset", "--coresets", help="Coreset artifact(s) to "
                                                          "train on (repeat the option).", show_default=False)] = None,
    generator: Annotated[Optional[List[Path]], typer.Option("--generator", "--generators", help="GAN generator "
                                                            "artifact(s) (`distill gan`): a model trained only on "
                                                            "their samples, --ppc per class, balanced (repeat the "
                                                            "option: the L_SML / L_DIV ablation in one table).",
                                                            show_default=False)] = None,
    ppc: Annotated[str, typer.Option(help="Comma-separated generated samples per class for --generator rows.")] = "50,100",
    ipc: Annotated[str, typer.Option(help="Comma-separated samples per class for the tiny-budget rows (AL at ipc x "
                                          "classes and balanced random real clips); default: the coresets' ipc.",
                                     show_default=False)] = "",
    model: opt.Model = "cnn4",
    model_arg: opt.ModelArg = None,
    seeds: Annotated[int, typer.Option(help="Repeats of every row with seeds 0..N-1 (mean and std reported).")] = 3,
    device: opt.Device = "auto",
    workers: Annotated[int, typer.Option(help="Jobs trained in parallel processes. Other compare processes may run "
                                               "on the same --out at once: each job runs once, in whichever claims it "
                                               "first.")] = 1,
    threads: opt.Threads = None,
    as_json: opt.Json = False,
    al: Any = None,
    train_config: Any = None,
) -> None:
    """Compare coresets and generators with active learning and random subsets at the same budgets; write report.md/csv/json + PNG."""
    from edgedistill.compare import CompareSettings, check_jobs, plan_jobs, run_comparison
    from edgedistill.compare_report import summarise, write_report
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.methods.coreset import load_coreset

    from edgedistill.artifacts import check_run_folder

    path = feat
    check_run_folder(out, "settings.json", "comparison report")
    feats = FeatureSet.load(path)
    coresets = [str(c) for c in coreset or []]
    try:
        ipcs = [int(v) for v in _csv(ipc)]
    except ValueError:
        raise ValueError(f"--ipc {ipc!r}: give whole numbers of samples per class, like 2,5,10") from None
    if not ipc:
        ipcs = sorted({load_coreset(c, features=feats.config, labels=feats.labels).ipc for c in coresets})
    generators = [str(g) for g in generator or []]
    try:
        ppcs = [int(v) for v in _csv(ppc)] if generators else []
    except ValueError:
        raise ValueError(f"--ppc {ppc!r}: give whole numbers of generated samples per class, like 50,100") from None
    jobs = plan_jobs(_csv(strategies), _csv(budgets), ipcs, coresets, seeds, feats.n_classes, generators, ppcs)
    check_jobs(feats, jobs)
    settings = CompareSettings(
        model=model, model_kwargs=opt.model_kwargs(model_arg),
        train_config=train_config.replace(threads=None).to_dict(),
        al={"rounds": al.rounds, "mc_passes": al.mc_passes, "warm_start": al.warm_start},
        feature_id=feats.feature_id, manifest_hash=feats.manifest_hash(),
    )
    from edgedistill.progress import progress

    with progress(len(jobs), f"compare ({model})") as bar:

        def on_done(record: dict) -> None:
            points = record.get("points") or [record]
            bar.log(f"{record['key']}: accuracy " + ", ".join(f"{p['accuracy']:.3f} on {p['n_samples']}" for p in points)
                    + " samples")
            bar.advance(1)

        records = run_comparison(path, out, jobs, settings, workers=workers, threads=threads, on_done=on_done)
    rows = summarise(records)
    title = f"{feats.dataset or path.name}: {model}, {seeds} seed(s)"
    notes = [f"feature cache {path} ({feats.feature_id}), train split {int((feats.split == 'train').sum())} clips, "
             f"test split {int((feats.split == 'test').sum())} clips, {feats.n_classes} classes",
             f"training: {train_config.epochs} epochs (at least {train_config.min_steps} steps), batch {train_config.batch_size}, "
             f"lr {train_config.lr}, augment {train_config.augment}; "
             f"AL: one trajectory per strategy and seed through every budget, {al.rounds} round(s) to the smallest and "
             f"between budgets, "
             f"{'warm-started' if al.warm_start else 'retrained'} each round, BALD with {al.mc_passes} MC-dropout passes"]
    paths = write_report(rows, out, title, notes)
    log.print(f"wrote {', '.join(str(p) for p in paths.values())} ({len(records)} jobs)")
    table = [(r["method"], r["percent"], r["per_class"], f"{r['accuracy_mean']:.2f} ± {r['accuracy_std']:.2f}", r["uar_mean"],
              r["seeds"]) for r in rows]
    emit({"out": str(out), "model": model, "jobs": len(records), "rows": rows, "files": {k: str(v) for k, v in paths.items()}},
         as_json, title=title, rows=table,
         columns=("method", "% of samples", "samples per class", "accuracy (%)", "UAR (%)", "seeds"))
