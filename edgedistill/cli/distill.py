"""`edgedistill distill <method> FEAT` (one sub-command per registered method, generated from
`edgedistill.methods.distiller.DISTILLERS`) and `edgedistill krr-score CORESET FEAT`.

A method's options are its config's fields (default and help declared there once); torch and
the methods' heavy modules are imported inside the commands so `--help` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgedistill.cli import options as opt
from edgedistill.cli.launch import main_rank, relaunch
from edgedistill.cli.output import emit

app = typer.Typer(help="Distil a feature cache into a coreset (rfad) or a generator (gan).", no_args_is_help=True)


def _command(name: str) -> None:
    from edgedistill.methods.distiller import DISTILLERS

    distiller = DISTILLERS[name]
    configs = {"config": distiller.config_type, "inputs": distiller.inputs_type}

    @opt.config_options(panel=f"{name.upper()} settings", **configs)
    def command(feat: opt.Feat, out: opt.Out, resume: opt.Resume = False,
                quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
                as_json: opt.Json = False, config: Any = None, inputs: Any = None) -> None:
        relaunch(getattr(config, "nproc", 1))
        result = distiller.run(feat, out, config, inputs, resume=resume, progress=not quiet)
        if main_rank():
            emit(result, as_json, title=f"{name} -> {out}")

    command.__doc__ = f"{distiller.summary}\n\n{distiller.description}"
    command.__name__ = name
    app.command(name)(command)


for _name in __import__("edgedistill.methods.distiller", fromlist=["DISTILLERS"]).DISTILLERS.names():
    _command(_name)


def krr_score(
    coreset: Annotated[Path, typer.Argument(help="Coreset artifact directory.")],
    feat: opt.Feat,
    split: Annotated[str, typer.Option(help="Split to score on: test, valid or train.")] = "test",
    draws: Annotated[int, typer.Option(help="Fresh random-net draws (mean ± std over them).")] = 5,
    seed: opt.Seed = 0,
    device: opt.Device = "auto",
    as_json: opt.Json = False,
) -> None:
    """Score a coreset directly: KRR with the random-feature kernel fitted on it, accuracy on a split."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.methods.coreset import load_coreset
    from edgedistill.methods.krr import score_coreset

    test = FeatureSet.load(feat).by_split(split)
    loaded = load_coreset(coreset, features=test.config, labels=test.labels)
    result = score_coreset(loaded, test, draws=draws, seed=seed, device=device)
    result = {"coreset": str(coreset), "split": split, **result}
    rows = [("accuracy", f"{result['accuracy']:.4f} ± {result['accuracy_std']:.4f}"), ("draws", draws),
            ("n", result["n"]), ("coreset samples", result["n_coreset"]), ("ipc", result["ipc"])]
    emit(result, as_json, title=f"KRR score of {coreset} on {split}", rows=rows)
