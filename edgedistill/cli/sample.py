"""`edgedistill sample GEN`: labelled features drawn from a generator artifact, written as a
feature set or a coreset artifact. torch is imported inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgedistill.cli import options as opt
from edgedistill.cli.output import emit


def sample(
    generator: Annotated[Path, typer.Argument(help="Generator artifact directory (from `edgedistill distill gan`).",
                                              show_default=False)],
    out: opt.Out,
    per_class: Annotated[int, typer.Option(help="Samples per class (with --prior: per_class x classes in total).")] = 50,
    balanced: Annotated[bool, typer.Option("--balanced/--prior", help="Equal counts per class, or follow the real class prior.")] = True,
    seed: opt.Seed = 0,
    as_format: Annotated[str, typer.Option("--format", help="featureset (a feature cache, split 'train') or coreset (a coreset artifact, e.g. for `compare`).")] = "featureset",
    as_json: opt.Json = False,
) -> None:
    """Sample labelled features from a generator into a feature set or a coreset artifact."""
    from edgedistill.methods.coreset import Coreset, save_coreset
    from edgedistill.methods.gan.artifact import load_generator, sample_featureset

    if as_format not in ("featureset", "coreset"):
        raise ValueError(f"--format {as_format!r}: choose featureset or coreset")
    gen = load_generator(generator)
    data = sample_featureset(gen, per_class, seed=seed, balanced=balanced, source=generator.name + "/")
    about = {"generator": str(generator), "balanced": balanced, "per_class": per_class}
    if as_format == "coreset":
        path = save_coreset(out, Coreset(x=data.x, y=data.y, labels=list(data.labels), config=data.config),
                            method={"name": "gan-sample", **about}, seed=seed, source_manifest_hash=gen.source_manifest_hash)
    else:
        path = data.save(out, seed=seed, extra=about)
    counts = data.class_counts()
    emit({"out": str(path), "format": as_format, "n": len(data), "per_class": {label: int(c) for label, c in zip(data.labels, counts)}},
         as_json, title="Generated samples")
