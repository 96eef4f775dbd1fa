"""The comparison runner: job planning (one AL trajectory per strategy and seed), resume, settings
pinning, the report files."""

import csv
import json
import shutil

import numpy as np
import pytest

from edgedistill.compare import CompareSettings, Job, check_jobs, plan_jobs, run_comparison, run_job
from edgedistill.compare_report import budget_records, method_name, summarise, write_report, write_tables
from edgedistill.methods.coreset import Coreset, save_coreset
from edgedistill.runs import balanced_indices


def tiny_settings(**changes) -> CompareSettings:
    from edgedistill.training import TrainConfig

    base = dict(model="cnn4", model_kwargs={"width": 4},
                train_config=TrainConfig(min_steps=0, epochs=2, batch_size=16, augment=False).to_dict(),
                al={"rounds": 2, "mc_passes": 3, "warm_start": False})
    return CompareSettings(**{**base, **changes})


def save_toy_coreset(path, pool, seed):
    index = balanced_indices(pool.y, 4, 2, seed=seed)
    save_coreset(path, Coreset(x=np.asarray(pool.x[index]), y=pool.y[index], labels=pool.labels, config=pool.config),
                 {"name": "test"}, seed=seed, source_manifest_hash=None)
    return path


def test_plan_jobs_covers_the_grid(toy_featureset, tmp_path):
    coreset = save_toy_coreset(tmp_path / "cs", toy_featureset.by_split("train"), seed=5)
    jobs = plan_jobs(["entropy", "bald"], ["40%", "20%"], [2], [str(coreset)], seeds=2, n_classes=4)
    per_seed = 1 + 2 + 1 + 1  # full, one trajectory per strategy, random ipc 2, coreset
    assert len(jobs) == 2 * per_seed == len({job.key for job in jobs})
    assert {job.budget for job in jobs if job.kind == "al"} == {"40%,20%,8"}  # every budget in one trajectory
    assert plan_jobs([], ["8"], [2], [], 1, 4) == [Job("full", 0), Job("random", 0, budget="2")]
    with pytest.raises(ValueError, match="seeds"):
        plan_jobs([], [], [], [], 0, 4)


def test_a_rewritten_coreset_is_a_new_job(toy_featureset, tmp_path):
    from edgedistill.artifacts import ArtifactError

    pool = toy_featureset.by_split("train")
    [before] = plan_jobs([], [], [], [str(save_toy_coreset(tmp_path / "cs", pool, seed=5))], 1, 4)[1:]
    shutil.rmtree(tmp_path / "cs")
    [after] = plan_jobs([], [], [], [str(save_toy_coreset(tmp_path / "cs", pool, seed=6))], 1, 4)[1:]
    assert before.coreset == after.coreset and before.content != after.content and before.key != after.key
    with pytest.raises(ArtifactError, match="no artifact directory"):
        plan_jobs([], [], [], [str(tmp_path / "missing")], 1, 4)


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

    settings = tiny_settings(model_kwargs={"width": 8}, train_config=TrainConfig(min_steps=0, epochs=8, batch_size=16).to_dict())
    record = run_job(str(toy_features_dir), Job("full", 0), settings.to_dict(), threads=1)
    assert record["n_samples"] == record["pool_size"] == 64
    assert record["accuracy"] >= 0.6  # chance is 0.25 on 4 balanced classes


def test_run_resume_and_report(toy_featureset, toy_features_dir, tmp_path):
    coreset_dir = save_toy_coreset(tmp_path / "coreset", toy_featureset.by_split("train"), seed=5)
    jobs = plan_jobs(["entropy", "random"], ["20%"], [2], [str(coreset_dir)], seeds=1, n_classes=4)
    check_jobs(toy_featureset, jobs)
    out = tmp_path / "report"
    done = []
    records = run_comparison(toy_features_dir, out, jobs[:3], tiny_settings(), on_done=done.append)
    assert len(records) == len(done) == 3
    # a re-run reuses the finished jobs and runs only the rest
    done.clear()
    records = run_comparison(toy_features_dir, out, jobs, tiny_settings(), on_done=done.append)
    assert [r["key"] for r in done] == [job.key for job in jobs[3:]]
    assert len(records) == len(jobs) == len(list((out / "jobs").glob("*.json")))
    with pytest.raises(ValueError, match=r"other settings \(model_kwargs differ\)"):
        run_comparison(toy_features_dir, out, jobs, tiny_settings(model_kwargs={"width": 8}))

    by_kind = {(r["kind"], r["strategy"]): r for r in records}
    trajectory = by_kind[("al", "entropy")]
    assert trajectory["budget"] == "20%,8" and trajectory["n_samples"] == 13  # stops at the largest budget
    assert [r["n_labelled"] for r in trajectory["rounds"]] == [4, 6, 8, 10, 13]  # 2 rounds to 8, 2 more to 13
    assert [p["n_samples"] for p in trajectory["points"]] == [8, 13]
    assert [sum(p["class_counts"]) for p in trajectory["points"]] == [8, 13]  # labelled clips per class at each budget
    for point in trajectory["points"]:  # each budget reads the round that ended there
        [at] = [r for r in trajectory["rounds"] if r["n_labelled"] == point["n_samples"]]
        assert (point["accuracy"], point["uar"]) == (at["accuracy"], at["uar"])
    assert by_kind[("random", "")]["n_samples"] == 8 == by_kind[("coreset", "")]["n_samples"]
    assert sorted((method_name(r), r["n_samples"]) for r in budget_records(records) if r["kind"] == "al") == [
        ("AL Max Entropy", 8), ("AL Max Entropy", 13), ("AL Random", 8), ("AL Random", 13)]

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


def test_trajectory_rows_equal_separate_runs(toy_features_dir):
    settings = tiny_settings().to_dict()
    trajectory = run_job(str(toy_features_dir), Job("al", 1, strategy="bald", budget="16,8,12"), settings, threads=1)
    for budget, separate_budgets in [(8, "8"), (12, "12,8")]:  # the run stopping there, with the same smaller budgets
        separate = run_job(str(toy_features_dir), Job("al", 1, strategy="bald", budget=separate_budgets), settings, threads=1)
        [point] = [p for p in trajectory["points"] if p["n_samples"] == budget]
        assert (separate["n_samples"], separate["accuracy"], separate["uar"]) == (budget, point["accuracy"], point["uar"])


def test_write_tables_one_section_per_model(tmp_path):
    row = {"method": "Full data", "percent": 100.0, "per_class": 16.0, "n_samples": 64, "accuracy_mean": 90.0,
           "accuracy_std": 1.0, "uar_mean": 89.0, "seeds": 3}
    paths = {kind: tmp_path / f"r.{kind}" for kind in ("md", "csv", "json", "png")}
    write_tables({"cnn4": [row], "resnet18": [{**row, "accuracy_mean": 80.0}]}, paths, "two models", ["n"])
    text = paths["md"].read_text()
    assert text.index("## cnn4") < text.index("| Full data | 100.00 | 16.0 | 90.00 ± 1.00 |") < text.index("## resnet18")
    assert [(r["model"], r["accuracy_mean"]) for r in csv.DictReader(paths["csv"].open())] == [
        ("cnn4", "90.0"), ("resnet18", "80.0")]
    assert json.loads(paths["json"].read_text())["tables"]["resnet18"][0]["accuracy_mean"] == 80.0
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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


def test_generator_rows(toy_featureset, toy_features_dir, toy_generator_dir, generator_factory, tmp_path):
    """--generator: one job per generator x ppc, trained on its balanced samples, named in the table;
    jobs planned before generator rows existed keep their keys, so old reports still resume."""
    import dataclasses
    import hashlib

    gen = toy_generator_dir
    jobs = plan_jobs([], [], [], [], 1, 4, generators=[str(gen)], ppcs=[3, 5])
    assert [(j.kind, j.budget) for j in jobs] == [("full", ""), ("generator", "3"), ("generator", "5")]
    check_jobs(toy_featureset, jobs)
    full = Job("full", 0)
    old_text = json.dumps({k: v for k, v in dataclasses.asdict(full).items() if k != "generator"}, sort_keys=True)
    assert full.key == f"full-s0-{hashlib.sha256(old_text.encode()).hexdigest()[:8]}"
    with pytest.raises(ValueError, match="--ppc"):
        plan_jobs([], [], [], [], 1, 4, generators=[str(gen)])
    other = generator_factory(tmp_path / "other", toy_featureset.by_split("train"), labels=["w", "x", "y", "z"])
    with pytest.raises(ValueError, match="differ"):
        check_jobs(toy_featureset, plan_jobs([], [], [], [], 1, 4, generators=[str(other)], ppcs=[3]))

    record = run_job(str(toy_features_dir), jobs[1], tiny_settings().to_dict(), threads=1)
    assert record["n_samples"] == 12 and 0 <= record["accuracy"] <= 1
    assert method_name(record) == "Generated gen"
