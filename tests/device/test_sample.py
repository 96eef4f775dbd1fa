"""`sample`: generator graph -> balanced or prior-following labelled features, seeded."""

import numpy as np
import pytest

from edgedistill.device.sample import class_counts, sample
from edgedistill.device.trainset import load_labelled, save_samples


def test_balanced_samples_have_the_feature_shape(generator_export, toy_featureset):
    x, y, labels, config = sample(generator_export, 5, seed=1)
    assert x.shape == (20, *toy_featureset.config.shape) and x.dtype == np.float32
    assert np.bincount(y).tolist() == [5, 5, 5, 5] and labels == toy_featureset.labels
    assert config.feature_id == toy_featureset.config.feature_id
    again, _, _, _ = sample(generator_export, 5, seed=1)
    other, _, _, _ = sample(generator_export, 5, seed=2)
    np.testing.assert_array_equal(x, again)
    assert not np.allclose(x, other)


def test_prior_and_explicit_counts(generator_export):
    _, y, _, _ = sample(generator_export, 10, balanced=False)
    assert np.bincount(y).tolist() == [16, 12, 8, 4]  # class_prior 0.4/0.3/0.2/0.1 of 40
    assert class_counts(["a", "b", "c"], 1, balanced=False, prior=[1, 1, 1]).tolist() == [1, 1, 1]
    assert class_counts(["a", "b"], {"b": 3}).tolist() == [0, 3]
    with pytest.raises(ValueError, match="unknown class"):
        class_counts(["a", "b"], {"z": 3})
    with pytest.raises(ValueError, match="--balanced"):
        class_counts(["a", "b"], 3, balanced=False, prior=None)


def test_samples_file_round_trip(tmp_path, generator_export):
    x, y, labels, config = sample(generator_export, 3)
    path = save_samples(tmp_path / "s.npz", x, y, labels, config)
    data = load_labelled(path, config)
    np.testing.assert_array_equal(data.x, x)
    assert data.labels == labels and data.config == config
    with pytest.raises(ValueError, match="already exists"):
        save_samples(path, x, y, labels, config)


def test_a_classifier_is_not_a_generator(classifier_export):
    with pytest.raises(ValueError, match="not a generator"):
        sample(classifier_export, 2)
