"""`edgedistill distill` (any method in METHODS) and `edgedistill krr-score` (score a coreset by KRR).

One `distill` command dispatches on the method name; each method's options sit in their own
help panel ("RFAD options", ...) and map one to one onto its config dataclass. torch and the
methods are imported inside the commands so `--help` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from edgedistill.cli.output import emit, log

RFAD = "RFAD options (--method rfad only)"


def _load_splits(feat: Path):
    """(train, valid or None) of a feature cache; train is required."""
    from edgedistill.data.featureset import FeatureSet

    features = FeatureSet.load(feat)
    train = features.by_split("train")
    valid = features.by_split("valid") if (features.split == "valid").any() else None
    return train, valid


def distill(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output artifact directory (must not exist).", show_default=False)],
    feat: Annotated[Optional[Path], typer.Argument(help="Feature cache directory (from `edgedistill features` / prepare).", show_default=False)] = None,
    features: Annotated[Optional[Path], typer.Option("--features", help="Feature cache directory (same as the FEAT argument).", show_default=False)] = None,
    method: Annotated[str, typer.Option(help="Distillation method: rfad (kernel coreset) or gan (generator).")] = "rfad",
    ipc: Annotated[int, typer.Option(help="Synthetic samples per class (the budget).")] = 10,
    seed: Annotated[int, typer.Option(help="Random seed (init, batches, random nets).")] = 0,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda[:N].")] = "auto",
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads (default: torch's choice).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT's checkpoint (OUT.ckpt.npz) after a stop.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    steps: Annotated[int, typer.Option(help="Optimisation steps.", rich_help_panel=RFAD)] = 500,
    lr: Annotated[float, typer.Option(help="Adam learning rate on the coreset (normalised units).", rich_help_panel=RFAD)] = 0.01,
    batch_size: Annotated[int, typer.Option(help="Real samples per step.", rich_help_panel=RFAD)] = 128,
    n_nets: Annotated[int, typer.Option(help="Random conv nets N in the kernel.", rich_help_panel=RFAD)] = 7,
    width: Annotated[int, typer.Option(help="Conv channels per random net.", rich_help_panel=RFAD)] = 16,
    depth: Annotated[int, typer.Option(help="Conv blocks per random net.", rich_help_panel=RFAD)] = 3,
    n_features: Annotated[int, typer.Option(help="Random head outputs M per net.", rich_help_panel=RFAD)] = 128,
    time_pool: Annotated[bool, typer.Option("--time-pool/--no-time-pool", help="Average the nets' last block over time (a kernel invariant to where the sound sits in the clip); default: flatten, as the paper.", rich_help_panel=RFAD)] = False,
    redraw_every: Annotated[int, typer.Option(help="Steps between fresh random nets.", rich_help_panel=RFAD)] = 1,
    reg: Annotated[float, typer.Option(help="KRR ridge, relative to mean(diag K_CC).", rich_help_panel=RFAD)] = 1e-4,
    loss: Annotated[str, typer.Option(help="mse or platt (cross-entropy with a learned scale).", rich_help_panel=RFAD)] = "mse",
    learn_labels: Annotated[bool, typer.Option("--learn-labels", help="Also learn the coreset's soft labels.", rich_help_panel=RFAD)] = False,
    label_lr: Annotated[float, typer.Option(help="Adam lr of learned labels and the Platt scale.", rich_help_panel=RFAD)] = 0.01,
    init: Annotated[str, typer.Option(help="real (random real clips per class), kmeans (per class, the real clips nearest k-means centroids in random-feature space: representative rather than random) or noise.", rich_help_panel=RFAD)] = "real",
    eval_every: Annotated[int, typer.Option(help="Steps between validation scores (needs a valid split).", rich_help_panel=RFAD)] = 50,
    patience: Annotated[int, typer.Option(help="Validation scores without improvement before stopping (0 = never).", rich_help_panel=RFAD)] = 0,
    checkpoint_every: Annotated[int, typer.Option(help="Steps between checkpoints.", rich_help_panel=RFAD)] = 200,
    compile: Annotated[bool, typer.Option("--compile/--no-compile", help="Run the random nets' torch ops through torch.compile (needs Triton on CUDA, a C++ compiler on CPU; else it warns and runs uncompiled), same results to float rounding. For CUDA: on the CPU the default path (a fused C kernel for the conv blocks) measured 1.5-1.8x faster per step than compiled.", rich_help_panel=RFAD)] = False,
) -> None:
    """Distil the feature cache's train split into a coreset (rfad) or a generator (gan).

    The valid split, when present, picks the best coreset (and early stopping). The artifact
    records every setting and holds history.png (loss and validation accuracy per step, one
    synthetic feature map per class); a stopped run continues with --resume.
    """
    from edgedistill.methods import METHODS

    feat_dir = _feature_dir(feat, features)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of: {', '.join(METHODS.names())}")
    if out.exists():
        raise ValueError(f"--out {out} already exists; artifacts are never overwritten: choose a new path")
    train, valid = _load_splits(feat_dir)
    if method == "gan":
        raise ValueError("the GAN distiller has its own options: run `edgedistill distill-gan FEAT --out GEN` "
                         "(see `edgedistill distill-gan --help`)")
    from edgedistill.methods.coreset import save_coreset
    from edgedistill.methods.rfad import RFADConfig

    config = RFADConfig(ipc=ipc, steps=steps, lr=lr, label_lr=label_lr, batch_size=batch_size, n_nets=n_nets, width=width,
                        depth=depth, n_features=n_features, time_pool=time_pool, redraw_every=redraw_every, reg=reg, loss=loss,
                        learn_labels=learn_labels, init=init, eval_every=eval_every, patience=patience,
                        checkpoint_every=checkpoint_every, compile=compile, device=device, threads=threads, seed=seed)
    checkpoint = out.with_name(f"{out.name}.ckpt.npz")
    if checkpoint.exists() and not resume:
        raise ValueError(f"checkpoint {checkpoint} exists from an earlier run: pass --resume to continue it, or delete it")
    if resume and not checkpoint.exists():
        log.print(f"no checkpoint at {checkpoint}; starting from step 0")
    coreset = METHODS.get_entry("rfad")(train, config, progress=not quiet, valid=valid, checkpoint=checkpoint)
    meta = coreset.meta
    save_coreset(out, coreset, method=meta.method, seed=seed, source_manifest_hash=meta.source_manifest_hash,
                 metrics=meta.metrics, extra=meta.extra, plot=True)
    checkpoint.unlink(missing_ok=True)
    log.print(f"wrote {out}")
    result = {"out": str(out), "method": "rfad", "ipc": ipc, "n_samples": int(len(coreset.y)), **meta.metrics}
    emit(result, as_json, title=f"RFAD coreset {out}")


def krr_score(
    coreset: Annotated[Path, typer.Argument(help="Coreset artifact directory.")],
    features: Annotated[Path, typer.Option("--features", help="Feature cache with the evaluation split.")],
    split: Annotated[str, typer.Option(help="Split to score on: test, valid or train.")] = "test",
    draws: Annotated[int, typer.Option(help="Fresh random-net draws (mean ± std over them).")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the scoring nets.")] = 0,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda[:N].")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Score a coreset directly: KRR with the random-feature kernel fitted on it, accuracy on a split."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.methods.coreset import load_coreset
    from edgedistill.methods.krr import score_coreset

    test = FeatureSet.load(features).by_split(split)
    loaded = load_coreset(coreset, features=test.config, labels=test.labels)
    result = score_coreset(loaded, test, draws=draws, seed=seed, device=device)
    result = {"coreset": str(coreset), "split": split, **result}
    rows = [("accuracy", f"{result['accuracy']:.4f} ± {result['accuracy_std']:.4f}"), ("draws", draws),
            ("n", result["n"]), ("coreset samples", result["n_coreset"]), ("ipc", result["ipc"])]
    emit(result, as_json, title=f"KRR score of {coreset} on {split}", rows=rows)


def _feature_dir(feat: Path | None, features: Path | None) -> Path:
    if feat is not None and features is not None and feat != features:
        raise ValueError(f"give the feature cache once: FEAT {feat} and --features {features} differ")
    chosen = feat or features
    if chosen is None:
        raise ValueError("no feature cache given: pass FEAT or --features DIR")
    return chosen
