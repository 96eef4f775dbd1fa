"""The comparison's job store shared by several processes: two compare processes on one --out run
every job exactly once and agree on the records; a claim of a dead process is taken over, a live
one waited for; a killed training job resumes from its checkpoint with the straight run's result."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("torch")

from edgedistill.compare import CompareSettings, Job, JobStore, plan_jobs, run_comparison, run_job  # noqa: E402

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
RUNNER = """
import json, sys
from edgedistill.compare import CompareSettings, Job, run_comparison
feat, out, settings, jobs, workers = sys.argv[1:6]
ran = []
records = run_comparison(feat, out, [Job(**j) for j in json.loads(jobs)], CompareSettings(**json.loads(settings)),
                         workers=int(workers), threads=1, on_done=lambda r: ran.append(r["key"]), poll=0.1)
print(json.dumps({"ran": ran, "records": records}))
"""


def settings(epochs: int = 2) -> CompareSettings:
    from edgedistill.training import TrainConfig

    return CompareSettings(model="cnn4", model_kwargs={"width": 4},
                           train_config=TrainConfig(min_steps=0, epochs=epochs, batch_size=16, augment=False).to_dict(),
                           al={"rounds": 2, "mc_passes": 3, "warm_start": False})


def runner(feat, out, config: CompareSettings, jobs: list[Job], workers: int = 1) -> list[str]:
    import dataclasses

    return [sys.executable, "-c", RUNNER, str(feat), str(out), json.dumps(config.to_dict()),
            json.dumps([dataclasses.asdict(j) for j in jobs]), str(workers)]


def test_two_processes_on_one_out_run_each_job_once(toy_features_dir, tmp_path):
    jobs = plan_jobs([], [], [2, 4], [], seeds=3, n_classes=4)  # full + random ipc 2 and 4, per seed: 9 jobs
    out = tmp_path / "report"
    procs = [subprocess.Popen(runner(toy_features_dir, out, settings(), jobs, workers), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=ENV) for workers in (1, 2)]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr[-3000:]
        results.append(json.loads(stdout.splitlines()[-1]))
    ran = [key for result in results for key in result["ran"]]
    assert sorted(ran) == sorted(job.key for job in jobs)  # every job ran, none twice
    # both processes return every record, the same ones, in the order of the jobs
    for result in results:
        assert [r["key"] for r in result["records"]] == [job.key for job in jobs]
    assert results[0]["records"] == results[1]["records"]
    assert json.loads((out / "settings.json").read_text()) == json.loads(json.dumps(settings().to_dict()))
    left = sorted(p.name for p in (out / "jobs").iterdir())
    assert left == sorted([f"{job.key}.json" for job in jobs] + [".lock"])  # no claims, checkpoints or temp files
    assert sorted(p.name for p in out.iterdir()) == ["jobs", "settings.json"]
    assert not list(tmp_path.glob(".*"))  # nor beside the folder


def test_dead_claims_are_taken_over_and_live_ones_waited_for(toy_features_dir, tmp_path):
    out = tmp_path / "report"
    dead, held = Job("random", 0, budget="2"), Job("full", 0)
    from edgedistill.compare import _pin_settings

    _pin_settings(out / "settings.json", settings().to_dict())  # a report folder another process started
    store = JobStore(out / "jobs")
    gone = subprocess.Popen(["true"])
    gone.wait()
    (out / "jobs" / f"{dead.key}.claim").write_text(json.dumps({"host": store.me["host"], "pid": gone.pid, "started": 1}))
    parent = os.getppid()  # a live process of this host that is not this one
    from edgedistill.compare import _process_start

    owner = {"host": store.me["host"], "pid": parent, "started": _process_start(parent)}
    (out / "jobs" / f"{held.key}.claim").write_text(json.dumps(owner))
    assert not store.claim(held.key) and store.claim(dead.key)
    store.release(dead.key)
    assert not (out / "jobs" / f"{dead.key}.claim").exists()

    finished_elsewhere = {"key": held.key, "kind": "full", "accuracy": 0.5, "uar": 0.5, "n_samples": 64}

    def other_process_finishes() -> None:
        time.sleep(1.0)
        from edgedistill.artifacts import write_json_atomic

        write_json_atomic(out / "jobs" / f"{held.key}.json", finished_elsewhere)

    threading.Thread(target=other_process_finishes).start()
    ran = []
    records = run_comparison(toy_features_dir, out, [held, dead], settings(), threads=1,
                             on_done=lambda r: ran.append(r["key"]), poll=0.1)
    assert ran == [dead.key]  # the dead process's job ran here; the live one's was waited for, not run
    assert records[0] == finished_elsewhere and records[1]["key"] == dead.key


def test_killed_training_job_resumes_from_its_checkpoint(toy_features_dir, tmp_path):
    out = tmp_path / "report"
    job, config = Job("full", 0), settings(epochs=30)
    proc = subprocess.Popen(runner(toy_features_dir, out, config, [job]), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=ENV)
    checkpoint = out / "jobs" / f"{job.key}.ckpt.safetensors"
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # a few epochs in
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert checkpoint.exists() and not (out / "jobs" / f"{job.key}.json").exists()
    assert (out / "jobs" / f"{job.key}.claim").exists()  # left by the killed process: stale now

    [resumed] = run_comparison(toy_features_dir, out, [job], config, threads=1, poll=0.1)
    assert 1 <= resumed["resumed_from_epoch"] < 30
    straight = run_job(str(toy_features_dir), job, config.to_dict(), threads=1)
    assert "resumed_from_epoch" not in straight
    assert (resumed["accuracy"], resumed["uar"]) == (straight["accuracy"], straight["uar"])
    assert not checkpoint.exists() and not (out / "jobs" / f"{job.key}.claim").exists()


def test_settings_json_is_pinned_once(toy_features_dir, tmp_path):
    from edgedistill.compare import _pin_settings

    path = tmp_path / "report" / "settings.json"
    _pin_settings(path, {"a": 1})
    _pin_settings(path, {"a": 1})
    with pytest.raises(ValueError, match=r"other settings \(a differ\)"):
        _pin_settings(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
