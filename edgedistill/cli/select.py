"""`edgedistill select FEAT`: active-learning selection of training clips under a labelling budget.

Thin shell over `edgedistill.methods.active_learning.run_active_learning`; its options are
`ALConfig`'s and `TrainConfig`'s fields. Writes a selection artifact. torch is imported inside.
"""

from __future__ import annotations

from typing import Any

from edgedistill.cli import options as opt
from edgedistill.cli.output import emit, log
from edgedistill.methods.active_learning import ALConfig
from edgedistill.train_config import TrainConfig


@opt.config_options(skip={"train_config": ("nproc",)}, al=ALConfig, train_config=TrainConfig)
def select(
    feat: opt.Feat,
    out: opt.Out,
    model: opt.Model = "cnn4",
    model_arg: opt.ModelArg = None,
    seed: opt.Seed = 0,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
    as_json: opt.Json = False,
    al: Any = None,
    train_config: Any = None,
) -> None:
    """Label a budget of training clips by active learning; write their indices and every round's accuracy."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.methods.active_learning import run_active_learning, split_arrays
    from edgedistill.methods.selection import save_selection

    from edgedistill.artifacts import check_output

    check_output(out)
    feats = FeatureSet.load(feat)
    pool = feats.by_split("train")
    test, valid = split_arrays(feats, "test"), split_arrays(feats, "valid")

    def on_round(record: dict) -> None:
        score = f", test accuracy {record['accuracy']:.3f}" if "accuracy" in record else ""
        log.print(f"round {record['round']}: {record['n_labelled']} labelled (+{record['n_acquired']}){score}")

    kwargs = opt.model_kwargs(model_arg)
    result = run_active_learning(pool, model, al, train_config, test=test, valid=valid, model_kwargs=kwargs, on_round=on_round)
    settings = {"al": al.to_dict(), "model": model, "model_kwargs": kwargs, "train_config": train_config.to_dict()}
    save_selection(out, feats, result, settings, seed)
    log.print(f"wrote {out}")
    final = result.rounds[-1]
    data = {"out": str(out), "strategy": al.strategy, "budget": result.budget, "budgets": result.budgets, "pool_size": len(pool),
            "n_selected": int(len(result.indices)), "accuracy": final.get("accuracy"), "uar": final.get("uar"),
            "rounds": result.rounds}
    rows = [(r["round"], r["n_labelled"], r["n_acquired"], r.get("accuracy", "-"), r.get("uar", "-")) for r in result.rounds]
    emit(data, as_json, title=f"{al.strategy} selection: {result.budget} of {len(pool)} train clips -> {out}", rows=rows,
         columns=("round", "labelled", "acquired", "test accuracy", "test UAR"))
