"""Active learning on the toy feature set: exact budgets, no repeats, determinism, the selection artifact."""

import numpy as np
import pytest

from edgedistill.artifacts import ArtifactError
from edgedistill.methods.active_learning import (
    ALConfig, initial_size, nested_round_sizes, parse_budget, parse_budgets, round_sizes, run_active_learning,
    split_arrays, stratified_initial,
)
from edgedistill.methods.selection import load_selection, save_selection

TINY = {"width": 4}


def tiny_train_config(epochs: int = 2):
    from edgedistill.training import TrainConfig

    return TrainConfig(min_steps=0, epochs=epochs, batch_size=16, threads=1, augment=False)


def test_parse_budget_percent_and_count():
    assert parse_budget("20%", 64, 4) == 13  # 12.8 rounds to 13
    assert parse_budget("12.5%", 64, 4) == 8
    assert parse_budget(" 50 ", 64, 4) == 50
    assert parse_budget(4, 64, 4) == 4
    assert parse_budget("100%", 64, 4) == 64


@pytest.mark.parametrize("budget, message", [
    ("65", "has only 64"), ("3", "fewer than the 4 classes"), ("abc", "percentage"), ("0%", "percentage"),
    ("120%", "percentage"),
])
def test_parse_budget_refuses(budget, message):
    with pytest.raises(ValueError, match=message):
        parse_budget(budget, 64, 4)


def test_round_sizes_end_exactly_at_budget():
    assert round_sizes(4, 16, 4) == [4, 7, 10, 13, 16]
    assert round_sizes(4, 6, 4) == [4, 5, 6]  # fewer rounds than asked when the gap is small
    assert round_sizes(8, 8, 3) == [8]
    for initial, budget, rounds in [(10, 1301, 4), (4, 5, 1), (3, 97, 7)]:
        sizes = round_sizes(initial, budget, rounds)
        assert sizes[0] == initial and sizes[-1] == budget and all(np.diff(sizes) > 0)
    with pytest.raises(ValueError):
        round_sizes(9, 8, 2)


def test_parse_budgets_mixes_percentages_and_counts():
    assert parse_budgets("60%,40%,30%,20%", 100, 4) == [20, 30, 40, 60]
    assert parse_budgets(" 20%, 8 ,20 ", 64, 4) == [8, 13, 20]  # sorted, duplicates dropped
    assert parse_budgets(16, 64, 4) == [16]
    with pytest.raises(ValueError, match="at least one budget"):
        parse_budgets(" , ", 64, 4)
    with pytest.raises(ValueError, match="'2' is 2 samples, fewer than the 4 classes"):
        parse_budgets("20%,2", 64, 4)


def test_nested_round_sizes_hit_every_budget():
    assert nested_round_sizes(4, [8, 12, 16], 1) == [4, 8, 12, 16]
    assert nested_round_sizes(4, [16, 8], 2) == [4, 6, 8, 12, 16]
    assert nested_round_sizes(4, [16], 4) == round_sizes(4, 16, 4)  # one budget: the single-run schedule
    assert nested_round_sizes(8, [8, 9], 3) == [8, 9]
    # the paper's grid on FSDD's 2700 train clips, with the 2 and 5 per class budgets
    sizes = nested_round_sizes(10, parse_budgets("60%,40%,30%,20%,20,50", 2700, 10), 2)
    assert sizes == [10, 15, 20, 35, 50, 295, 540, 675, 810, 945, 1080, 1350, 1620]
    # a prefix of the schedule is the schedule of the run stopping at a smaller budget
    assert sizes[:sizes.index(810) + 1] == nested_round_sizes(10, [20, 50, 540, 810], 2)


def test_initial_size():
    assert initial_size(None, 13, 4) == 4
    assert initial_size(None, 60, 4) == 12
    with pytest.raises(ValueError, match="larger than the budget"):
        initial_size(20, 13, 4)


def test_stratified_initial_has_every_class_and_no_repeats(rng):
    y = np.repeat(np.arange(5), [1, 2, 30, 4, 3])
    index = stratified_initial(y, 12, 5, rng)
    assert len(index) == 12 == len(set(index.tolist()))
    assert set(y[index]) == set(range(5))
    assert len(stratified_initial(y, 3, 5, rng)) == 3


def test_config_round_trip_and_checks():
    config = ALConfig(strategy="bald", budget=" 20% ", mc_passes=5)
    assert config.budget == "20%"
    assert ALConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown acquisition strategy"):
        ALConfig(strategy="bold")
    with pytest.raises(ValueError, match="at least 2 MC-dropout"):
        ALConfig(strategy="bald", mc_passes=1)
    with pytest.raises(ValueError, match="ALConfig: unknown key"):
        ALConfig.from_dict({"strategy": "entropy", "batch": 3})


@pytest.fixture(scope="module")
def bald_run(toy_featureset):
    pool = toy_featureset.by_split("train")
    config = ALConfig(strategy="bald", budget="16", rounds=3, mc_passes=4, seed=3)
    seen = []
    result = run_active_learning(pool, "cnn4", config, tiny_train_config(), test=split_arrays(toy_featureset, "test"),
                                 model_kwargs=TINY, on_round=seen.append)
    return pool, config, result, seen


def test_budget_accounting_is_exact(bald_run):
    pool, config, result, seen = bald_run
    assert result.budget == 16 and len(result.indices) == 16
    assert len(np.unique(result.indices)) == 16
    assert result.indices.min() >= 0 and result.indices.max() < len(pool)
    sizes = [r["n_labelled"] for r in result.rounds]
    assert sizes == round_sizes(4, 16, 3) == [4, 8, 12, 16]
    assert [r["n_acquired"] for r in result.rounds] == [4, 4, 4, 4]
    assert seen == result.rounds
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in result.rounds)
    np.testing.assert_array_equal(result.acquired_round, np.repeat([0, 1, 2, 3], 4))
    assert set(pool.y[result.indices[:4]]) == set(range(pool.n_classes))  # stratified initial set


def test_same_seed_same_selection(bald_run, toy_featureset):
    pool, config, result, _ = bald_run
    again = run_active_learning(pool, "cnn4", config, tiny_train_config(), model_kwargs=TINY)
    np.testing.assert_array_equal(again.indices, result.indices)


@pytest.fixture(scope="module")
def nested_run(toy_featureset):
    pool = toy_featureset.by_split("train")
    config = ALConfig(strategy="entropy", budget="25%,8,12", rounds=1, seed=2)
    return pool, run_active_learning(pool, "cnn4", config, tiny_train_config(), test=split_arrays(toy_featureset, "test"),
                                     model_kwargs=TINY)


def test_nested_budgets_end_a_round_at_every_budget(nested_run):
    pool, result = nested_run
    assert result.budgets == [8, 12, 16] and result.budget == 16 == len(np.unique(result.indices))
    assert [r["n_labelled"] for r in result.rounds] == [4, 8, 12, 16]  # initial max(4 classes, 8 // 5)
    assert [result.at_budget(b)["n_labelled"] for b in result.budgets] == [8, 12, 16]
    with pytest.raises(KeyError, match="no round ended at 10"):
        result.at_budget(10)


def test_a_trajectory_prefix_equals_the_shorter_run(nested_run, toy_featureset):
    pool, result = nested_run
    short = run_active_learning(pool, "cnn4", ALConfig(strategy="entropy", budget="12,8", rounds=1, seed=2),
                                tiny_train_config(), test=split_arrays(toy_featureset, "test"), model_kwargs=TINY)
    np.testing.assert_array_equal(short.indices, result.indices[:12])
    assert short.rounds == result.rounds[:3]  # same sizes, same test accuracy at 8 and 12


def test_random_strategy_never_scores_the_pool(toy_featureset, monkeypatch):
    from edgedistill.training import TrainedModel

    def refuse(*args, **kwargs):
        raise AssertionError("random acquisition ran the model over the pool")

    monkeypatch.setattr(TrainedModel, "predict_proba", refuse)
    pool = toy_featureset.by_split("train")
    result = run_active_learning(pool, "cnn4", ALConfig(strategy="random", budget="16", rounds=2, seed=4),
                                 tiny_train_config(1), model_kwargs=TINY)
    assert [r["n_labelled"] for r in result.rounds] == [4, 10, 16] and len(np.unique(result.indices)) == 16


def test_warm_start_and_entropy_respect_the_budget(toy_featureset):
    pool = toy_featureset.by_split("train")
    config = ALConfig(strategy="entropy", budget="25%", rounds=2, warm_start=True, seed=1)
    result = run_active_learning(pool, "cnn4", config, tiny_train_config(1), model_kwargs=TINY)
    assert len(result.indices) == len(np.unique(result.indices)) == 16  # 25 % of 64
    assert "accuracy" not in result.rounds[-1]  # no test set given


def test_selection_artifact_round_trip(bald_run, toy_featureset, tmp_path):
    pool, config, result, _ = bald_run
    out = save_selection(tmp_path / "sel", toy_featureset, result, {"al": config.to_dict(), "model": "cnn4"}, seed=3)
    selection = load_selection(out, features=toy_featureset.config)
    np.testing.assert_array_equal(selection.indices, result.indices)
    np.testing.assert_array_equal(selection.acquired_round, result.acquired_round)
    assert selection.rounds == result.rounds
    assert selection.meta.extra["budget"] == 16 and selection.meta.extra["pool_size"] == len(pool)
    chosen = selection.apply(toy_featureset)
    np.testing.assert_array_equal(chosen.y, pool.y[result.indices])
    np.testing.assert_array_equal(chosen.x, np.asarray(pool.x[result.indices]))
    assert set(chosen.split) == {"train"}
    with pytest.raises(ArtifactError, match="already exists"):
        save_selection(out, toy_featureset, result, {}, seed=3)
    with pytest.raises(ArtifactError, match="feature cache"):
        selection.apply(toy_featureset.subset(np.arange(10)))


def test_min_steps_raises_epochs_for_small_sets():
    from edgedistill.train_config import TrainConfig

    config = TrainConfig(epochs=3, batch_size=16, min_steps=30)
    assert TrainConfig(epochs=3, batch_size=16, min_steps=0).epochs_for(20) == 3
    assert config.epochs_for(20) == 15  # 2 steps per epoch
    assert config.epochs_for(16) == 30
    assert config.epochs_for(1000) == 3  # 63 steps per epoch already
