"""The comparison runner: job planning, resume, settings pinning, the report files."""

import csv
import json

import numpy as np
import pytest

from edgedistill.compare import (
    CompareSettings, Job, check_jobs, plan_jobs, run_comparison, run_job, summarise, write_report,
)
from edgedistill.methods.coreset import Coreset, save_coreset
from edgedistill.runs import balanced_indices


def tiny_settings(**changes) -> CompareSettings:
    from edgedistill.training import TrainConfig

    base = dict(model="cnn4", model_kwargs={"width": 4},
                train_config=TrainConfig(epochs=2, batch_size=16, augment=False).to_dict(),
                al={"rounds": 2, "mc_passes": 3, "warm_start": False})
    return CompareSettings(**{**base, **changes})


def test_plan_jobs_covers_the_grid():
    jobs = plan_jobs(["entropy", "bald"], ["40%", "20%"], [2], ["cs"], seeds=2, n_classes=4)
    per_seed = 1 + 2 * 3 + 1 + 1  # full, 2 strategies x (2 budgets + 8 samples), random ipc 2, coreset
    assert len(jobs) == 2 * per_seed == len({job.key for job in jobs})
    assert sum(job.kind == "al" and job.budget == "8" for job in jobs) == 4
    assert plan_jobs([], ["8"], [2], [], 1, 4) == [Job("full", 0), Job("random", 0, budget="2")]
    with pytest.raises(ValueError, match="seeds"):
        plan_jobs([], [], [], [], 0, 4)


def test_check_jobs_refuses_impossible_budgets(toy_featureset):
    with pytest.raises(ValueError, match="fewer than the 4 classes"):
        check_jobs(toy_featureset, plan_jobs(["entropy"], ["2"], [], [], 1, 4))
    with pytest.raises(ValueError, match="smallest class"):
        check_jobs(toy_featureset, [Job("random", 0, budget="17")])
    check_jobs(toy_featureset, plan_jobs(["entropy"], ["20%"], [2], [], 1, 4))


def test_balanced_random_indices_are_balanced_and_seeded():
    y = np.repeat(np.arange(3), [5, 7, 9])
    index = balanced_indices(y, 3, 4, seed=0)
    assert np.bincount(y[index]).tolist() == [4, 4, 4] and len(set(index)) == 12
    np.testing.assert_array_equal(index, balanced_indices(y, 3, 4, seed=0))


def test_full_data_model_beats_chance(toy_features_dir):
    from edgedistill.training import TrainConfig

    settings = tiny_settings(model_kwargs={"width": 8}, train_config=TrainConfig(epochs=8, batch_size=16).to_dict())
    record = run_job(str(toy_features_dir), Job("full", 0), settings.to_dict(), threads=1)
    assert record["n_samples"] == record["pool_size"] == 64
    assert record["accuracy"] >= 0.6  # chance is 0.25 on 4 balanced classes


def test_run_resume_and_report(toy_featureset, toy_features_dir, tmp_path):
    coreset_dir = tmp_path / "coreset"
    pool = toy_featureset.by_split("train")
    index = balanced_indices(pool.y, 4, 2, seed=5)
    save_coreset(coreset_dir, Coreset(x=np.asarray(pool.x[index]), y=pool.y[index], labels=pool.labels,
                                      config=pool.config), {"name": "test"}, seed=5, source_manifest_hash=None)
    jobs = plan_jobs(["entropy", "random"], ["20%"], [2], [str(coreset_dir)], seeds=1, n_classes=4)
    check_jobs(toy_featureset, jobs)
    out = tmp_path / "report"
    done = []
    records = run_comparison(toy_features_dir, out, jobs[:4], tiny_settings(), on_done=done.append)
    assert len(records) == len(done) == 4
    # a re-run reuses the finished jobs and runs only the rest
    done.clear()
    records = run_comparison(toy_features_dir, out, jobs, tiny_settings(), on_done=done.append)
    assert [r["key"] for r in done] == [job.key for job in jobs[4:]]
    assert len(records) == len(jobs) == len(list((out / "jobs").glob("*.json")))
    with pytest.raises(ValueError, match=r"other settings \(model_kwargs differ\)"):
        run_comparison(toy_features_dir, out, jobs, tiny_settings(model_kwargs={"width": 8}))

    by_kind = {(r["kind"], r["strategy"], r["budget"]): r for r in records}
    assert by_kind[("al", "entropy", "20%")]["n_samples"] == 13
    assert [r["n_labelled"] for r in by_kind[("al", "entropy", "20%")]["rounds"]] == [4, 8, 13]
    assert by_kind[("al", "random", "8")]["n_samples"] == 8 == by_kind[("random", "", "2")]["n_samples"]
    assert by_kind[("coreset", "", "")]["n_samples"] == 8

    rows = summarise(records)
    assert rows[0]["method"] == "Full data" and rows[0]["percent"] == 100.0
    assert {r["method"] for r in rows} == {"Full data", "AL Max Entropy", "AL Random", "Random balanced (real)",
                                           "Coreset coreset"}
    paths = write_report(rows, out, "toy", notes=["a note"])
    table = list(csv.DictReader(paths["csv"].open()))
    assert len(table) == len(rows) and float(table[0]["accuracy_mean"]) == pytest.approx(rows[0]["accuracy_mean"])
    assert json.loads(paths["json"].read_text())["rows"] == rows
    assert "| Full data | 100.00 | 16.0 |" in paths["md"].read_text()
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no finished jobs"):
        write_report([], out, "empty")


def test_summarise_mean_and_std():
    base = {"kind": "al", "strategy": "bald", "coreset": "", "n_samples": 10, "pool_size": 100, "n_classes": 5}
    rows = summarise([{**base, "accuracy": 0.5, "uar": 0.4}, {**base, "accuracy": 0.7, "uar": 0.6}])
    assert rows == [{"method": "AL BALD", "percent": 10.0, "per_class": 2.0, "n_samples": 10, "accuracy_mean": 60.0,
                     "accuracy_std": pytest.approx(10.0), "uar_mean": pytest.approx(50.0), "seeds": 2}]


def test_parallel_workers_match_the_serial_run(toy_features_dir, tmp_path):
    jobs = plan_jobs(["entropy"], ["20%"], [], [], seeds=1, n_classes=4)
    serial = run_comparison(toy_features_dir, tmp_path / "a", jobs, tiny_settings())
    parallel = run_comparison(toy_features_dir, tmp_path / "b", jobs, tiny_settings(), workers=2, threads=1)
    assert sorted((r["key"], r["accuracy"]) for r in serial) == sorted((r["key"], r["accuracy"]) for r in parallel)


def test_finished_records_reads_every_job(tmp_path):
    from edgedistill.compare import finished_records

    (tmp_path / "jobs").mkdir()
    for i in range(3):
        (tmp_path / "jobs" / f"job{i}.json").write_text(json.dumps({"key": f"job{i}"}))
    assert [r["key"] for r in finished_records(tmp_path)] == ["job0", "job1", "job2"]
    assert finished_records(tmp_path / "none") == []
