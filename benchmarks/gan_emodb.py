"""GAN dataset distillation on EmoDB: generated-only vs real training, generator size, ablation.

Protocol: EmoDB (all 535 clips in ../shared/data/emodb), resampled 22.05 -> 16 kHz, "ser" preset
(40 MFCC x 101 frames, 2 s). Leave-speakers-out: speakers --test-speakers are the test set, the
rest trains (the generator and the real baseline). The downstream model is the GAN package's
SmallCNN (the same for real and generated data), trained --seeds times; UAR on the test
speakers. Writes benchmarks/results/gan_emodb.{json,md} with the machine and date.

Usage: python benchmarks/gan_emodb.py [--steps 400] [--variants baseline +DIV +SML both] [--ppc 50 100] [--probe]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("EDGEDISTILL_SHARED_DATA", ROOT / ".." / "shared" / "data")).resolve() / "emodb"
RESULTS = ROOT / "benchmarks" / "results"


def load_emodb(cache: Path, normalize: str = "cmvn"):
    """EmoDB as a FeatureSet (ser preset, with `normalize`), cached at `cache`; split by speaker later."""
    import dataclasses

    from edgedistill.data.featureset import FeatureSet
    from edgedistill.features import extract_batch, get_preset
    from edgedistill.methods.gan.ssl import read_clip

    if cache.exists():
        return FeatureSet.load(cache, mmap=False)
    config = dataclasses.replace(get_preset("ser"), normalize=normalize)
    rows = list(csv.DictReader((DATA / "labels.csv").open()))
    labels = sorted({r["emotion"] for r in rows})
    waves = [read_clip(DATA / r["file"], config.sample_rate) for r in rows]
    data = FeatureSet(x=extract_batch(waves, config), y=np.array([labels.index(r["emotion"]) for r in rows]), labels=labels,
                      config=config, speaker=np.array([r["speaker"] for r in rows], dtype=object),
                      path=np.array([r["file"] for r in rows], dtype=object), dataset="emodb")
    data.save(cache)
    return data


def downstream(x, y, test, n_classes, seeds, epochs, width=16, probe=None):
    """Mean/std test UAR and mean training seconds of SmallCNNs trained on (x, y).

    probe: a FeatureSet with speakers; adds speaker_probe_acc (mean over seeds).
    """
    from edgedistill.methods.gan.pool import accuracy_and_uar, predict, train_classifier

    uars, seconds, probes = [], [], []
    for seed in range(seeds):
        start = time.perf_counter()
        model, _ = train_classifier(x, y, n_classes, epochs=epochs, width=width, seed=seed)
        seconds.append(time.perf_counter() - start)
        uars.append(accuracy_and_uar(test.y, predict(model, test.x).argmax(1), n_classes)["uar"])
        if probe is not None:
            probes.append(speaker_probe(model, probe))
    row = {"uar": float(np.mean(uars)), "uar_std": float(np.std(uars)), "train_s": float(np.mean(seconds)), "n": int(len(y))}
    if probes:
        row["speaker_probe_acc"] = float(np.mean(probes))
    return row


def speaker_probe(model, data, steps: int = 300) -> float:
    """Speaker information in the model's first layer: a linear speaker classifier's held-out accuracy.

    Embedding: first conv block (conv, BN, ReLU) output averaged over time -> (N, channels x bands),
    standardised. Softmax regression (Adam, weight decay) fits every other clip of each speaker and
    is scored on the rest. Lower = less speaker information; chance = 1 / speakers.
    """
    import torch

    speakers = sorted(set(data.speaker.tolist()))
    target = np.array([speakers.index(s) for s in data.speaker])
    with torch.no_grad():
        x = torch.as_tensor(np.asarray(data.x, dtype=np.float32))
        emb = model.body[:3](model.norm.normalize(x).unsqueeze(1)).mean(dim=3).flatten(1)
    emb = (emb - emb.mean(0)) / emb.std(0).clamp_min(1e-6)
    fit = np.zeros(len(target), dtype=bool)
    for s in range(len(speakers)):
        fit[np.flatnonzero(target == s)[::2]] = True
    generator = torch.Generator().manual_seed(0)
    linear = torch.nn.Linear(emb.shape[1], len(speakers))
    torch.nn.init.normal_(linear.weight, std=0.01, generator=generator)
    optimizer = torch.optim.Adam(linear.parameters(), lr=1e-2, weight_decay=1e-3)
    yt = torch.as_tensor(target)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(linear(emb[fit]), yt[fit])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return float((linear(emb[~fit]).argmax(1) == yt[~fit]).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400, help="generator steps per GAN (default 400)")
    parser.add_argument("--arch", default="gan-cnn", help="gan-cnn or gan-att (default gan-cnn)")
    parser.add_argument("--width", type=int, default=32, help="GAN width (default 32)")
    parser.add_argument("--ppc", type=int, nargs="+", default=[50, 100], help="generated samples per class")
    parser.add_argument("--seeds", type=int, default=1, help="downstream trainings per row (default 1)")
    parser.add_argument("--epochs", type=int, default=15, help="downstream epochs (default 15)")
    parser.add_argument("--test-speakers", nargs="+", default=["03", "08"], help="held-out speakers (default 03 08)")
    parser.add_argument("--variants", nargs="+", default=["both"], choices=["baseline", "+DIV", "+SML", "both"],
                        help="generators to train: baseline (no L_SML, no L_DIV), +DIV, +SML, both (default both)")
    parser.add_argument("--lr", type=float, default=1e-3, help="GAN Adam learning rate, generator and critic (default 1e-3)")
    parser.add_argument("--normalize", default="none", help="feature normalisation: none (default) or cmvn (the ser preset's)")
    parser.add_argument("--pool-models", type=int, default=1, help="L_SML pool classifiers (default 1)")
    parser.add_argument("--pool-epochs", type=int, default=6, help="epochs per pool classifier (default 6)")
    parser.add_argument("--prior", action="store_true", help="also sample 50 x classes following the real class prior")
    parser.add_argument("--probe", action="store_true", help="add the speaker-information probe (train speakers)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/edgedistill-emodb-ser"), help="feature cache dir prefix")
    parser.add_argument("--tag", default="", help="suffix of the result file names")
    args = parser.parse_args()

    import torch

    from edgedistill.methods.gan.artifact import sample, save_generator
    from edgedistill.methods.gan.config import GANConfig
    from edgedistill.methods.gan.loop import distill

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    data = load_emodb(args.cache.with_name(f"{args.cache.name}-{args.normalize}"), args.normalize)
    is_test = np.isin(data.speaker.astype(str), args.test_speakers)
    train, test = data.subset(~is_test), data.subset(is_test)
    audio_bytes = sum((DATA / p).stat().st_size for p in train.path)
    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores (shared), torch {torch.__version__}, cpu",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes"),
        "data": f"EmoDB 535 clips, ser preset {list(data.config.shape)} normalize={args.normalize}, test speakers {args.test_speakers}",
        "n_train": len(train), "n_test": len(test), "train_audio_bytes": int(audio_bytes),
        "train_feature_bytes": int(train.x.nbytes), "rows": [],
    }
    probe = train if args.probe else None
    real = downstream(train.x, train.y, test, data.n_classes, args.seeds, args.epochs, probe=probe)
    result["rows"].append({"data": "real", "variant": "-", "ppc": "all", **real})
    print("real", real, flush=True)
    ablation = {"baseline": {"lambda_sml": 0.0, "lambda_div": 0.0}, "+DIV": {"lambda_sml": 0.0},
                "+SML": {"lambda_div": 0.0}, "both": {}}
    for name in args.variants:
        change = ablation[name]
        config = GANConfig(arch=args.arch, z_dim=32, width=args.width, steps=args.steps, n_critic=2, batch_size=32,
                           lr_g=args.lr, lr_d=args.lr, pool_models=args.pool_models,
                           pool_epochs=args.pool_epochs, pool_every=2, device="auto", seed=0, **change)
        start = time.perf_counter()
        gen = distill(train, config, progress=False)
        gan_seconds = time.perf_counter() - start
        out = Path("/tmp") / f"edgedistill-gan-emodb-{args.arch}-{name}-{os.getpid()}"
        save_generator(out, gen, seed=0)
        gen_bytes = sum(f.stat().st_size for f in out.iterdir())
        for ppc in args.ppc:
            x, y = sample(gen, ppc, seed=1)
            row = downstream(x, y, test, data.n_classes, args.seeds, args.epochs, probe=probe)
            result["rows"].append({"data": f"generated ({args.arch})", "variant": name, "ppc": ppc, **row,
                                   "generator_bytes": gen_bytes, "gan_train_s": round(gan_seconds, 1)})
            print(name, ppc, row, flush=True)
        if args.prior:
            x, y = sample(gen, 50, seed=2, balanced=False)
            row = downstream(x, y, test, data.n_classes, args.seeds, args.epochs)
            result["rows"].append({"data": f"generated ({args.arch})", "variant": name + " prior", "ppc": "50 x C by prior",
                                   **row, "generator_bytes": gen_bytes, "gan_train_s": round(gan_seconds, 1)})
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"gan_emodb{args.tag}"
    stem.with_suffix(".json").write_text(json.dumps({**result, "args": {k: str(v) for k, v in vars(args).items()}}, indent=2) + "\n")
    lines = [f"# GAN distillation on EmoDB ({result['date']})", "", f"Machine: {result['machine']}. Data: {result['data']}; "
             f"{result['n_train']} train / {result['n_test']} test clips. Train audio {audio_bytes / 1e6:.2f} MB, "
             f"train features {result['train_feature_bytes'] / 1e6:.2f} MB (float32). GAN: {args.arch}, width {args.width}, "
             f"{args.steps} steps, lr {args.lr}. L_SML pool: {args.pool_models} classifier(s) x {args.pool_epochs} epochs. Downstream: SmallCNN width 16, {args.epochs} epochs, mean ± std over {args.seeds} seeds.", "",
             "| data | variant | per class | n | UAR | ± | train s | generator bytes | speaker probe acc |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        probe_acc = f"{r['speaker_probe_acc']:.3f}" if "speaker_probe_acc" in r else "-"
        lines.append(f"| {r['data']} | {r['variant']} | {r['ppc']} | {r['n']} | {r['uar']:.3f} | {r['uar_std']:.3f} | "
                     f"{r['train_s']:.1f} | {r.get('generator_bytes', '-')} | {probe_acc} |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
