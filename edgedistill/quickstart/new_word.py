"""Quickstart stage `learn`: the device learns a new word from a few clips of a new user's voice.

The user is an espeak-ng voice that spoke none of the synthesised training, valid or test clips;
they say `new_word` `new_clips` times (1 s clips in noise, like the training clips), written as
OUT/learn/user/<new_word>/*.wav: the folder a user's recordings form for
`edgedistill device learn`. The stage calls that command's code (`edgedistill.device.learn.learn`)
on the `krr` device model trained from the coreset, with the coreset as replay, and scores the
model before and after on OUT/learn/eval.npz: the test split's clips of the old words plus the new
word spoken by the test split's speakers (as many clips as an old word has there).

Synthesis runs in a fresh process (`synth.render_fresh`); the rest is numpy + onnxruntime.
Must not import torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgedistill.quickstart.config import Run
from edgedistill.quickstart.listening import test_speakers

MODE = "krr"  # the device model that learns: closed form, the coreset is its training data


def learn(run: Run) -> dict[str, Any]:
    """Add `new_word` to the device's krr model from the user's clips; old/new accuracy before and after."""
    from edgedistill.device.artifacts import read_meta
    from edgedistill.device.learn import learn as device_learn

    base = Path(run.results["device"][MODE]["out"])
    user, evaluation, out = run.path("learn", "user"), run.path("learn", "eval.npz"), run.path("learn", "model")
    voice = _prepare(run, base, user, evaluation)
    if (out / "meta.json").exists():  # finished before an interruption
        summary = {"out": str(out), **read_meta(out).metrics}
    else:
        run.clear(out)
        _, summary = device_learn(base, user, out, replay=run.results["export"]["coreset_dir"], eval_data=evaluation,
                                  backend="onnxruntime", threads=1, log=lambda m: run.say(f"learn: {m}"))
    keys = ("old_class_accuracy_before", "old_class_accuracy_after", "new_class_accuracy", "n_eval_old", "n_eval_new",
            "train_seconds", "load_seconds")
    run.say(f"learn: '{run.config.new_word}' from {run.config.new_clips} clips of {voice}: new word "
              f"{summary['new_class_accuracy'] * 100:.1f} %, old words {summary['old_class_accuracy_before'] * 100:.1f} -> "
              f"{summary['old_class_accuracy_after'] * 100:.1f} %")
    return {"mode": MODE, "model": str(base), "out": str(out), "new_word": run.config.new_word, "user_voice": voice,
            "n_new": run.config.new_clips, "replay": run.results["export"]["coreset_dir"],
            "n_replay": summary.get("n_replay", run.results["distill"]["budgets"][str(run.config.chosen_ipc)]["n_samples"]),
            **{k: summary.get(k) for k in keys}}


def _prepare(run: Run, base: Path, user: Path, evaluation: Path) -> str:
    """Write the user's clips and the evaluation samples (once); returns the user's voice."""
    from edgedistill.data.espeak import english_voices
    from edgedistill.data.synth import make_speakers, read_cast, render_fresh, write_wav
    from edgedistill.device.features import extract_batch
    from edgedistill.device.predictor import load_predictor
    from edgedistill.device.trainset import load_labelled, save_samples

    c = run.config
    cast = read_cast(run.path("audio"))
    heard = {speaker.voice for speaker, _ in cast.values()}
    unheard = [v for v in english_voices() if v not in heard]
    if not unheard:
        raise ValueError("every espeak-ng voice spoke training audio: no unseen voice is left for the learn stage")
    speaker = make_speakers(unheard, 1, run.seed("learn"))[0]
    if evaluation.exists():  # written last
        return speaker.voice
    model = load_predictor(base, "onnxruntime", threads=1)
    config = model.feature_config
    old = load_labelled(run.path("features"), config, "test").aligned_to(model.labels)
    listeners = test_speakers(cast)
    per_word = max(1, round(len(old.y) / len(old.labels)))
    items = [(c.new_word, speaker)] * c.new_clips + [(c.new_word, listeners[i % len(listeners)]) for i in range(per_word)]
    run.say(f"learn: synthesising '{c.new_word}' {c.new_clips} times by an unseen voice ({speaker.voice}) "
              f"and {per_word} times by the test speakers")
    clips = render_fresh(items, run.seed("learn", 1), sample_rate=config.sample_rate, clip_seconds=config.clip_seconds)
    folder = user / c.new_word
    folder.mkdir(parents=True, exist_ok=True)
    for i, clip in enumerate(clips[: c.new_clips]):
        tmp = folder / f".user_{i:02d}.wav.tmp"
        write_wav(tmp, clip, config.sample_rate)
        tmp.replace(folder / f"user_{i:02d}.wav")
    new_x = extract_batch(clips[c.new_clips :], config)
    labels = [*old.labels, c.new_word]
    save_samples(evaluation, np.concatenate([old.x, new_x]), np.concatenate([old.y, np.full(len(new_x), len(old.labels))]),
                 labels, config, info={"old": "test split of the features", "new": f"'{c.new_word}' by the test speakers"})
    return speaker.voice
