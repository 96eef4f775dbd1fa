"""`edgedistill distill rfad`: RFAD kernel coreset distillation as a registered `Distiller`.

Loads the feature cache, runs `rfad.distill` with a checkpoint beside OUT (OUT.ckpt.npz, removed
after success), and writes the coreset artifact with `history.png`. Torch is imported inside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgedistill.methods.distiller import refuse_existing, training_splits
from edgedistill.methods.rfad import RFADConfig
from edgedistill.progress import say


class RFADDistiller:
    name = "rfad"
    summary = "Distil the train split into an RFAD coreset: ipc synthetic feature maps per class."
    description = ("Kernel ridge regression with a random-feature NNGP kernel, fitted on the coreset, must predict real "
                   "batches' labels. The valid split, when present, picks the best coreset (and early stopping). The "
                   "artifact records every setting and holds history.png (loss and validation accuracy per step, one "
                   "synthetic feature map per class); a stopped run continues with --resume.")
    config_type = RFADConfig
    inputs_type = None

    def run(self, feat: Path, out: Path, config: RFADConfig, inputs: Any, *, resume: bool, progress: bool) -> dict[str, Any]:
        from edgedistill.distributed import is_main
        from edgedistill.methods.coreset import save_coreset
        from edgedistill.methods.rfad import distill

        refuse_existing(out)
        _, train, valid = training_splits(feat)
        checkpoint = out.with_name(f"{out.name}.ckpt.npz")
        if checkpoint.exists() and not resume:
            raise ValueError(f"checkpoint {checkpoint} exists from an earlier run: pass --resume to continue it, or delete it")
        if resume and not checkpoint.exists():
            say(f"no checkpoint at {checkpoint}; starting from step 0", progress)
        coreset = distill(train, config, progress=progress, valid=valid, checkpoint=checkpoint)
        meta = coreset.meta
        if is_main():  # under torchrun every rank holds the same coreset; rank 0 writes it
            save_coreset(out, coreset, method=meta.method, seed=config.seed, source_manifest_hash=meta.source_manifest_hash,
                         metrics=meta.metrics, extra=meta.extra)
            checkpoint.unlink(missing_ok=True)
        return {"out": str(out), "method": "rfad", "ipc": config.ipc, "n_samples": int(len(coreset.y)), **meta.metrics}


DISTILLER = RFADDistiller()
