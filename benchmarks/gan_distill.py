"""GAN dataset distillation benchmark: generated-only vs real training, generator size, ablation.

Datasets (--dataset, a table below; one loader each):
- emodb: EmoDB (all 535 clips in ../shared/data/emodb), resampled 22.05 -> 16 kHz, "ser" preset
  at this copy's whole-utterance length (40 MFCC x 101 frames, 2 s) with --normalize (default none). Leave-speakers-out: speakers
  --test-speakers (default 03 08) are the test set, the rest trains.
- synth: keywords synthesised offline with espeak-ng (`edgedistill.data.synth`; --words, default
  the 10 Speech Commands keywords, --per-word clips each, default 80), "kws" preset (40 MFCC x
  101 frames, 1 s) with --normalize (default cmvn, the preset's). Speaker-disjoint: the
  synthesis' test speakers are the test set, its train and valid speakers train. Audio and
  features are cached under --cache (outside the repository).

The generators and the real baseline train on the same clips. The downstream model (--downstream:
SmallCNN from gan_smallcnn.py, as in the EmoDB tables, or a registered model such as cnn4 trained
with `train_model`) is the same for real and generated data, trained --seeds times; UAR on the
test speakers. Writes benchmarks/results/gan_{dataset}{tag}.{json,md} with the machine and date;
--summary instead gathers every gan_{dataset}_*.json there into gan_{dataset}_summary.md.

--curve K instead trains one generator (the first --variants entry) to --steps in a resumable
run (state and curve in --run-dir; the same command again continues it) and scores generated-
only UAR at the last --ppc per class every K steps; writes gan_{dataset}_curve{tag}.{csv,md,png}:
UAR vs generator steps and vs GAN wall time, beside the real-data UAR.

Usage: python benchmarks/gan_distill.py --dataset emodb|synth [--steps 400] [--variants baseline +DIV +SML both]
       [--ppc 50 100] [--probe] [--tag _both]
       python benchmarks/gan_distill.py --dataset synth --summary
       nice -n 19 python benchmarks/gan_distill.py --dataset emodb --curve 250 --steps 20000 --ppc 100 --tag _both
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGEDISTILL_SHARED_DATA", ROOT / ".." / "shared" / "data")).resolve()
RESULTS = ROOT / "benchmarks" / "results"


@dataclasses.dataclass
class Split:
    """A benchmark's data: train and test feature sets, where the train audio lies, a description."""

    train: object  # FeatureSet
    test: object  # FeatureSet
    audio_root: Path
    description: str
    valid: object = None  # FeatureSet of held-out training speakers (--valid-speakers), or None


def load_emodb(args: argparse.Namespace) -> Split:
    """EmoDB, ser preset with --normalize (default none), cached; --test-speakers held out."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.features import extract_batch, get_preset
    from edgedistill.methods.gan.ssl import read_clip

    root = SHARED / "emodb"
    normalize = args.normalize or "none"
    speakers = args.test_speakers or ["03", "08"]
    # every clip of this copy is 2.0 s (see ../shared/data/README.md): the whole utterance, as the
    # ser preset's 5 s would loop it 2.5 times; the features equal the committed tables' exactly
    config = dataclasses.replace(get_preset("ser"), clip_seconds=2.0, normalize=normalize)
    cache = args.cache / f"emodb-ser-{normalize}-{config.feature_id}"
    if cache.exists():
        data = FeatureSet.load(cache, mmap=False)
    else:
        rows = list(csv.DictReader((root / "labels.csv").open()))
        labels = sorted({r["emotion"] for r in rows})
        waves = [read_clip(root / r["file"], config.sample_rate) for r in rows]
        data = FeatureSet(x=extract_batch(waves, config), y=np.array([labels.index(r["emotion"]) for r in rows]),
                          labels=labels, config=config, speaker=np.array([r["speaker"] for r in rows], dtype=object),
                          path=np.array([r["file"] for r in rows], dtype=object), dataset="emodb")
        data.save(cache)
    is_test = np.isin(data.speaker.astype(str), speakers)
    is_valid = np.isin(data.speaker.astype(str), args.valid_speakers or [])
    if (is_test & is_valid).any():
        raise SystemExit(f"--valid-speakers {args.valid_speakers} overlap --test-speakers {speakers}")
    valid = f", validation speakers {args.valid_speakers}" if args.valid_speakers else ""
    return Split(data.subset(~is_test & ~is_valid), data.subset(is_test), root,
                 f"EmoDB {len(data)} clips, ser preset {list(data.config.shape)} normalize={normalize}, test speakers {speakers}"
                 + valid, valid=data.subset(is_valid) if is_valid.any() else None)


def load_synth(args: argparse.Namespace) -> Split:
    """Synthesised keywords (espeak-ng), kws preset with --normalize (default cmvn), cached under --cache."""
    from edgedistill.data.featureset import FeatureSet
    from edgedistill.data.prepare import prepare
    from edgedistill.data.synth import synthesize
    from edgedistill.features import get_preset

    if args.test_speakers:
        raise SystemExit("--test-speakers: the synth dataset's test speakers come from its speaker-disjoint split")
    normalize = args.normalize or "cmvn"
    if args.valid_speakers:
        raise SystemExit("--valid-speakers: the synth dataset's validation speakers come from its split")
    audio = args.cache / f"synth-{len(args.words)}w-{args.per_word}-seed0"
    if not (audio / "manifest.csv").exists():
        synthesize(audio, list(args.words), per_word=args.per_word, seed=0, progress=False)
    config = dataclasses.replace(get_preset("kws"), normalize=normalize)
    data = FeatureSet.load(prepare("synth", audio, config, audio.with_name(f"{audio.name}-kws-{normalize}"), seed=0,
                                   progress=False), mmap=False)
    is_test = data.split == "test"
    test_speakers = sorted(set(data.speaker[is_test].tolist()))
    return Split(data.subset(~is_test), data.subset(is_test), audio,
                 f"synthesised keywords ({len(args.words)} words x {args.per_word} clips, {len(set(data.speaker.tolist()))} "
                 f"speakers), kws preset {list(data.config.shape)} normalize={normalize}, test speakers {test_speakers}")


# name -> (title, loader, defaults of the options left unset); smallcnn keeps the EmoDB tables reproducible
DATASETS: dict[str, tuple[str, Callable[[argparse.Namespace], Split], dict]] = {
    "emodb": ("EmoDB", load_emodb, {"downstream": "smallcnn", "epochs": 15}),
    "synth": ("synthesised keywords", load_synth, {"downstream": "cnn4", "epochs": 30}),
}


def fit(model: str, x, y, labels: list[str], epochs: int, width: int, seed: int):
    """A downstream classifier (torch module, eval mode) trained on (x, y).

    model "smallcnn": `gan_smallcnn.SmallCNN` (the committed EmoDB tables' model); any other
    name: that registered model through `edgedistill.training.train_model`
    (Adam, cosine decay, SpecAugment, as `edgedistill train` runs it).
    """
    if model == "smallcnn":
        from gan_smallcnn import train_classifier  # beside this script

        return train_classifier(x, y, len(labels), epochs=epochs, width=width, seed=seed)[0]
    from edgedistill.training import TrainConfig, train_model

    config = TrainConfig(min_steps=0, epochs=epochs, device="cpu", threads=int(os.environ.get("OMP_NUM_THREADS", "1")), seed=seed)
    return train_model(model, x, y, labels, config, model_kwargs={"width": width}, progress=False).module


def downstream(x, y, test, labels, args, probe=None, valid=None, resample=None):
    """Mean/std test UAR and mean training seconds of --downstream models trained on (x, y), --seeds times.

    probe: a FeatureSet with speakers; adds speaker_probe_acc (mean over seeds). valid: a
    FeatureSet; adds valid_uar / valid_uar_std. resample: seed -> (x, y), the training data of
    downstream seed `seed` (e.g. a fresh generated sample per seed) instead of (x, y).
    Always adds test_pred: each seed's test predictions (for McNemar tests).
    """
    from edgedistill.methods.gan.pool import accuracy_and_uar, predict

    uars, seconds, probes, valid_uars, preds = [], [], [], [], []
    for seed in range(args.seeds):
        if resample is not None:
            x, y = resample(seed)
        start = time.perf_counter()
        model = fit(args.downstream, x, y, labels, args.epochs, args.downstream_width, seed)
        seconds.append(time.perf_counter() - start)
        pred = predict(model, test.x).argmax(1)
        preds.append(pred.tolist())
        uars.append(accuracy_and_uar(test.y, pred, len(labels))["uar"])
        if valid is not None:
            valid_uars.append(accuracy_and_uar(valid.y, predict(model, valid.x).argmax(1), len(labels))["uar"])
        if probe is not None:
            probes.append(speaker_probe(model, probe))
    row = {"uar": float(np.mean(uars)), "uar_std": float(np.std(uars)), "uar_seeds": [float(u) for u in uars],
           "train_s": float(np.mean(seconds)), "n": int(len(y)), "test_pred": preds}
    if valid_uars:
        row.update(valid_uar=float(np.mean(valid_uars)), valid_uar_std=float(np.std(valid_uars)))
    if probes:
        row["speaker_probe_acc"] = float(np.mean(probes))
        row["speaker_probe_std"] = float(np.std(probes))
    return row


def first_block(model, x):
    """The output of the model's first ReLU (its first conv block: conv, BN, ReLU) on x (N, F, T)."""
    import torch

    relu = next(m for m in model.modules() if isinstance(m, torch.nn.ReLU))
    captured = []
    handle = relu.register_forward_hook(lambda module, inputs, output: captured.append(output.clone()))
    try:
        model.eval()(x)
    finally:
        handle.remove()
    return captured[0]


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
        emb = first_block(model, torch.as_tensor(np.asarray(data.x, dtype=np.float32))).mean(dim=3).flatten(1)
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


ABLATION = {"baseline": {"lambda_sml": 0.0, "lambda_div": 0.0}, "+DIV": {"lambda_sml": 0.0}, "+SML": {"lambda_div": 0.0},
            "both": {}}


def gan_config(args: argparse.Namespace, variant: str):
    """The GANConfig of one benchmark variant (z 32, batch 32, n_critic 2, seed 0; the rest from the flags)."""
    from edgedistill.methods.gan.config import GANConfig

    return GANConfig(arch=args.arch, z_dim=32, width=args.width, steps=args.steps, n_critic=2, batch_size=32,
                     lr_g=args.lr, lr_d=args.lr, lambda_ac_fake=args.lambda_ac_fake, ac_flood=args.ac_flood, pool_model=args.pool_model,
                     pool_models=args.pool_models, pool_epochs=args.pool_epochs, pool_every=2, device="auto", seed=0,
                     **{"lambda_sml": args.lambda_sml, **ABLATION[variant]})


def parse_args() -> argparse.Namespace:
    from edgedistill.data.synth import KEYWORDS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="emodb", help="benchmark data (default emodb)")
    parser.add_argument("--steps", type=int, default=400, help="generator steps per GAN (default 400)")
    parser.add_argument("--eval-at", type=int, nargs="*", default=[],
                        help="also score the generator (first --ppc only) after these many steps, on the way to --steps")
    parser.add_argument("--arch", default="gan-cnn", help="gan-cnn or gan-att (default gan-cnn)")
    parser.add_argument("--width", type=int, default=32, help="GAN width (default 32)")
    parser.add_argument("--ppc", type=int, nargs="+", default=[50, 100], help="generated samples per class")
    parser.add_argument("--seeds", type=int, default=1, help="downstream trainings per row (default 1)")
    parser.add_argument("--downstream", default=None,
                        help="downstream model: smallcnn (gan_smallcnn.py) or a registered model, e.g. cnn4 "
                             "(default: emodb smallcnn, synth cnn4)")
    parser.add_argument("--downstream-width", type=int, default=16, help="downstream model width (default 16)")
    parser.add_argument("--epochs", type=int, default=None, help="downstream epochs (default: emodb 15, synth 30)")
    parser.add_argument("--test-speakers", nargs="+", default=None, help="emodb: held-out speakers (default 03 08)")
    parser.add_argument("--valid-speakers", nargs="+", default=None,
                        help="emodb: training speakers held out as validation (--curve scores them to pick a checkpoint)")
    parser.add_argument("--words", nargs="+", default=list(KEYWORDS), help="synth: keywords (default the 10 Speech Commands words)")
    parser.add_argument("--per-word", type=int, default=80, help="synth: clips per word (default 80)")
    parser.add_argument("--variants", nargs="+", default=["both"], choices=list(ABLATION),
                        help="generators to train: baseline (no L_SML, no L_DIV), +DIV, +SML, both (default both)")
    parser.add_argument("--lr", type=float, default=1e-3, help="GAN Adam learning rate, generator and critic (default 1e-3)")
    parser.add_argument("--normalize", default=None, help="feature normalisation: none or cmvn (default: emodb none, synth cmvn)")
    parser.add_argument("--lambda-ac-fake", type=float, default=0.0,
                        help="weight of the critic's aux CE on generated batches (GANConfig.lambda_ac_fake; default 0, real only)")
    parser.add_argument("--ac-flood", type=float, default=0.0,
                        help="flood level of the critic's aux CE on real clips (GANConfig.ac_flood; default 0, off)")
    parser.add_argument("--lambda-sml", type=float, default=1.0, help="L_SML weight where a variant uses it (default 1)")
    parser.add_argument("--pool-model", default="cnn4", help="L_SML pool: registered model, width 16 (default cnn4)")
    parser.add_argument("--pool-models", type=int, default=1, help="L_SML pool classifiers (default 1)")
    parser.add_argument("--pool-epochs", type=int, default=6, help="epochs per pool classifier (default 6)")
    parser.add_argument("--prior", action="store_true", help="also sample 50 x classes following the real class prior")
    parser.add_argument("--probe", action="store_true", help="add the speaker-information probe (train speakers)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/edgedistill-gan-bench"), help="data/feature cache folder")
    parser.add_argument("--tag", default="", help="suffix of the result file names")
    parser.add_argument("--skip-real", action="store_true",
                        help="no real-data row (another run of the same data and downstream settings has it)")
    parser.add_argument("--curve", type=int, default=0, metavar="K",
                        help="resumable long run: score generated-only UAR every K generator steps (see the module doc)")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="--curve: folder of the training state and curve (default CACHE/curve-DATASET-VARIANT-ARCH-TAG)")
    parser.add_argument("--summary", action="store_true", help="only gather gan_{dataset}_*.json into gan_{dataset}_summary.md")
    args = parser.parse_args()
    for key, value in DATASETS[args.dataset][2].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main() -> None:
    args = parse_args()
    if args.summary:
        write_summary(args.dataset)
        return

    import torch

    from edgedistill.methods.gan.artifact import sample, save_generator
    from edgedistill.methods.gan.loop import distill

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    name, load, _ = DATASETS[args.dataset]
    data = load(args)
    train, test = data.train, data.test
    if args.curve:
        from gan_curve import run_curve  # beside this script

        run_curve(args, data, name, downstream, gan_config)
        return
    audio_bytes = sum((data.audio_root / p).stat().st_size for p in train.path)
    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores (shared), torch {torch.__version__}, cpu",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="minutes"), "dataset": args.dataset,
        "data": data.description, "n_train": len(train), "n_test": len(test), "n_classes": train.n_classes,
        "train_audio_bytes": int(audio_bytes), "train_feature_bytes": int(train.x.nbytes), "rows": [],
    }
    probe = train if args.probe else None
    if not args.skip_real:
        real = downstream(train.x, train.y, test, train.labels, args, probe=probe)
        result["rows"].append({"data": "real", "variant": "-", "ppc": "all", **real})
        print("real", real, flush=True)
    for variant in args.variants:
        config = gan_config(args, variant)
        out = Path("/tmp") / f"edgedistill-gan-{args.dataset}-{args.arch}-{variant}-{os.getpid()}"
        gan_seconds, stops = 0.0, sorted({s for s in args.eval_at if s < args.steps} | {args.steps})
        for i, steps in enumerate(stops):  # resumed from the previous stop: the same generator as one straight run
            start = time.perf_counter()
            gen = distill(train, config.replace(steps=steps), progress=False, valid=test, checkpoint=out / "state", resume=i > 0)
            gan_seconds += time.perf_counter() - start
            save_generator(out / f"gen-{steps}", gen, seed=0)
            gen_bytes = sum(f.stat().st_size for f in (out / f"gen-{steps}").iterdir())
            generated = {"data": f"generated ({args.arch})", "steps": steps, "generator_bytes": gen_bytes,
                         "gan_train_s": round(gan_seconds, 1),
                         "ac_real_end": float(np.mean([h["ac_real"] for h in gen.history[-5:]])), **gen.metrics}
            for ppc in args.ppc if steps == args.steps else args.ppc[:1]:
                x, y = sample(gen, ppc, seed=1)
                row = downstream(x, y, test, train.labels, args, probe=probe if steps == args.steps else None)
                result["rows"].append({**generated, "variant": variant, "ppc": ppc, **row})
                print(variant, steps, ppc, row, flush=True)
        if args.prior:
            x, y = sample(gen, 50, seed=2, balanced=False)
            row = downstream(x, y, test, train.labels, args)
            result["rows"].append({**generated, "variant": variant + " prior", "ppc": "50 x C by prior", **row})
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"gan_{args.dataset}{args.tag}"
    stem.with_suffix(".json").write_text(json.dumps({**result, "args": {k: str(v) for k, v in vars(args).items()}}, indent=2) + "\n")
    lines = [f"# GAN distillation on {name} ({result['date']})", "", f"Machine: {result['machine']}. Data: {result['data']}; "
             f"{result['n_train']} train / {result['n_test']} test clips. Train audio {audio_bytes / 1e6:.2f} MB, "
             f"train features {result['train_feature_bytes'] / 1e6:.2f} MB (float32). GAN: {args.arch}, width {args.width}, "
             f"{args.steps} steps, lr {args.lr}. L_SML: weight {args.lambda_sml}, pool {args.pool_models} {args.pool_model} x {args.pool_epochs} epochs. "
             f"Downstream: {args.downstream} width {args.downstream_width}, {args.epochs} epochs, mean ± std over {args.seeds} seeds."
             + (" Real-data row skipped (--skip-real): see another run of this dataset." if args.skip_real else ""), "",
             "Critic diagnostics: aux CE on real (mean of the last 5 logged steps, ln C at chance), its aux UAR on the test "
             "speakers, and the last L_SML pool classifier's UAR on generated clips.", "",
             "| data | variant | GAN steps | per class | n | UAR | ± | train s | generator bytes | speaker probe acc "
             "| critic aux CE real | critic aux UAR test | pool UAR on generated |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        probe_acc = f"{r['speaker_probe_acc']:.3f}" if "speaker_probe_acc" in r else "-"
        lines.append(f"| {r['data']} | {r['variant']} | {r.get('steps', '-')} | {r['ppc']} | {r['n']} | {r['uar']:.3f} | {r['uar_std']:.3f} | "
                     f"{r['train_s']:.1f} | {r.get('generator_bytes', '-')} | {probe_acc} | {_num(r.get('ac_real_end'))} | "
                     f"{_num(r.get('aux_valid_uar'))} | {_num(r.get('pool_uar_on_generated'))} |")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _num(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def write_summary(dataset: str) -> None:
    """One table of every committed run of `dataset`: real row once, each generated row with its run's settings."""
    runs = sorted(p for p in RESULTS.glob(f"gan_{dataset}_*.json")
                  if p.stem != f"gan_{dataset}_summary" and not p.stem.startswith(f"gan_{dataset}_final"))  # gan_final.py's tables
    if not runs:
        raise SystemExit(f"no {RESULTS}/gan_{dataset}_*.json to summarise; run the benchmark first")
    results = [json.loads(p.read_text()) for p in runs]
    first = results[0]
    audio, feats = first["train_audio_bytes"], first["train_feature_bytes"]
    lines = [f"# GAN distillation on {DATASETS[dataset][0]}: summary of {len(runs)} run(s)", "",
             f"Data: {first['data']}; {first['n_train']} train / {first['n_test']} test clips, "
             f"chance UAR {1 / first.get('n_classes', len(first['rows'])):.3f}. Train audio {audio / 1e6:.2f} MB, "
             f"train features {feats / 1e6:.2f} MB (float32). Downstream model: see each run's file; UAR on the test speakers. "
             "\"train s\" is downstream training wall time on a shared machine: compare within one run only.", "",
             "Critic: \"shared\" = one conv body for both heads, pooled over time and frequency, aux CE on real and "
             "generated (runs before commit 1c50487); \"2-branch\" = each head on its own branch, pooled over time only, "
             "aux CE on real only (lambda_ac_fake 0).", "",
             "| run | critic | downstream | data | variant | L_SML pool, weight | GAN steps | lr | per class | UAR | ± seeds | train s | GAN train s | generator MB "
             "| % of audio | % of features | speaker probe acc | critic aux CE real | critic aux UAR test | pool UAR on generated |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    real_done: set[str] = set()
    for path, result in zip(runs, results):
        args = result.get("args", {})
        for r in result["rows"]:
            if r["data"] == "real":
                if args.get("downstream", "smallcnn") in real_done:
                    continue
                real_done.add(args.get("downstream", "smallcnn"))
            size = r.get("generator_bytes")
            uses_pool = r["variant"].split()[0] in ("+SML", "both")
            pool = (f"{args.get('pool_model', 'SmallCNN (before 43123cf)')}, weight {args.get('lambda_sml', '1.0')}"
                    if uses_pool else "-")
            critic = ("2-branch" if "lambda_ac_fake" in args else "shared") if size else "-"
            cells = [path.stem.removeprefix(f"gan_{dataset}_"), critic, args.get("downstream", "smallcnn"), r["data"], r["variant"], pool,
                     r.get("steps", args.get("steps", "-")) if size else "-", args.get("lr", "-") if size else "-", str(r["ppc"]),
                     f"{r['uar']:.3f}", f"{r['uar_std']:.3f} ({args.get('seeds', '?')})", f"{r['train_s']:.1f}",
                     str(r.get("gan_train_s", "-")), f"{size / 1e6:.2f}" if size else "-",
                     f"{100 * size / audio:.1f}" if size else "-", f"{100 * size / feats:.1f}" if size else "-",
                     f"{r['speaker_probe_acc']:.3f}" if "speaker_probe_acc" in r else "-", _num(r.get("ac_real_end")),
                     _num(r.get("aux_valid_uar")), _num(r.get("pool_uar_on_generated"))]
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    out = RESULTS / f"gan_{dataset}_summary.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
