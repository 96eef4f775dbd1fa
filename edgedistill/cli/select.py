"""`edgedistill select`: active-learning selection of training clips under a labelling budget.

Thin shell over `edgedistill.methods.active_learning.run_active_learning`; writes a selection
artifact. torch is imported inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgedistill.cli import train_options as opt
from edgedistill.cli.output import emit, log


def select(
    feat: opt.Features = None,
    features: opt.FeaturesOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="New selection artifact directory (never overwritten).")] = ...,
    strategy: Annotated[str, typer.Option(help="Acquisition strategy: random, entropy, variation-ratios, bald, margin.")] = "bald",
    budget: Annotated[str, typer.Option(help="Labelled samples at the end: a percentage of the train split (20%) "
                                             "or a count (50); several comma-separated budgets (20%,40%) end a "
                                             "round at each and stop at the largest.")] = "20%",
    initial: Annotated[Optional[int], typer.Option(help="Random initial labelled set (default: one per class or a "
                                                        "fifth of the budget, whichever is larger).", show_default=False)] = None,
    rounds: opt.Rounds = 4,
    mc_passes: opt.MCPasses = 10,
    warm_start: opt.WarmStart = False,
    model: opt.Model = "cnn4",
    model_arg: opt.ModelArgs = None,
    epochs: opt.Epochs = 30,
    min_steps: opt.MinSteps = 100,
    batch_size: opt.BatchSize = 64,
    lr: opt.LearningRate = 3e-3,
    augment: opt.Augment = True,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
    seed: Annotated[int, typer.Option(help="Seeds the initial set, acquisition ties, dropout and training.")] = 0,
    as_json: opt.Json = False,
) -> None:
    """Label a budget of training clips by active learning; write their indices and every round's accuracy."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.methods.active_learning import ALConfig, run_active_learning, split_arrays
    from edgedistill.methods.selection import save_selection

    path = opt.features_path(feat, features)
    if out.exists():
        raise ValueError(f"--out {out} already exists; choose a new directory")
    config = ALConfig(strategy=strategy, budget=budget, initial=initial, rounds=rounds, mc_passes=mc_passes,
                      warm_start=warm_start, seed=seed)
    train_config = opt.train_config(epochs, batch_size, lr, augment, device, threads, seed)
    feats = FeatureSet.load(path)
    pool = feats.by_split("train")
    test, valid = split_arrays(feats, "test"), split_arrays(feats, "valid")

    def on_round(record: dict) -> None:
        score = f", test accuracy {record['accuracy']:.3f}" if "accuracy" in record else ""
        log.print(f"round {record['round']}: {record['n_labelled']} labelled (+{record['n_acquired']}){score}")

    result = run_active_learning(pool, model, config, train_config, test=test, valid=valid, min_steps=min_steps,
                                 model_kwargs=opt.model_kwargs(model_arg),
                                 on_round=on_round)
    settings = {"al": config.to_dict(), "model": model, "model_kwargs": opt.model_kwargs(model_arg),
                "train_config": train_config.to_dict(), "min_steps": min_steps}
    save_selection(out, feats, result, settings, seed)
    log.print(f"wrote {out}")
    final = result.rounds[-1]
    data = {"out": str(out), "strategy": strategy, "budget": result.budget, "budgets": result.budgets, "pool_size": len(pool),
            "n_selected": int(len(result.indices)), "accuracy": final.get("accuracy"), "uar": final.get("uar"),
            "rounds": result.rounds}
    rows = [(r["round"], r["n_labelled"], r["n_acquired"], r.get("accuracy", "-"), r.get("uar", "-")) for r in result.rounds]
    emit(data, as_json, title=f"{strategy} selection: {result.budget} of {len(pool)} train clips -> {out}", rows=rows,
         columns=("round", "labelled", "acquired", "test accuracy", "test UAR"))
