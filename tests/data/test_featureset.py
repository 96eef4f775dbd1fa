"""The feature cache format: round trip, views, refusals."""

import numpy as np
import pytest

from edgedistill.artifacts import ArtifactError
from edgedistill.data.featureset import FeatureSet
from edgedistill.data.mapped import MappedRows
from edgedistill.features import get_preset


def test_round_trip(toy_featureset, toy_features_dir):
    loaded = FeatureSet.load(toy_features_dir, features=get_preset("kws"))
    assert isinstance(loaded.x, MappedRows)
    np.testing.assert_array_equal(loaded.x, toy_featureset.x)
    np.testing.assert_array_equal(loaded.y, toy_featureset.y)
    assert loaded.labels == toy_featureset.labels and loaded.dataset == "toy"
    assert list(loaded.speaker) == list(toy_featureset.speaker)
    assert loaded.manifest_hash() == toy_featureset.manifest_hash() == loaded.meta.source_manifest_hash


def test_splits_are_speaker_disjoint(toy_featureset):
    train, test = toy_featureset.by_split("train"), toy_featureset.by_split("test")
    assert set(train.speaker) & set(test.speaker) == set()
    assert len(train) + len(test) + len(toy_featureset.by_split("valid")) == len(toy_featureset)
    assert (train.class_counts() > 0).all()


def test_missing_split_is_a_clear_error(toy_featureset):
    no_test = toy_featureset.subset(toy_featureset.split != "test")
    with pytest.raises(ValueError, match="has no 'test' clips"):
        no_test.by_split("test")


def test_refuses_other_features(toy_features_dir):
    with pytest.raises(ArtifactError, match="made with features"):
        FeatureSet.load(toy_features_dir, features=get_preset("ser"))


def test_shape_mismatch_is_refused(toy_featureset):
    with pytest.raises(ValueError, match="config gives"):
        FeatureSet(x=np.zeros((2, 13, 101), np.float32), y=[0, 1], labels=["a", "b"], config=get_preset("kws"))


def test_corrupt_cache_is_refused(tmp_path, toy_featureset):
    out = toy_featureset.subset(np.arange(8)).save(tmp_path / "feat")
    (out / "labels.npy").write_bytes(b"garbage")
    with pytest.raises(ArtifactError, match="incomplete or corrupt"):
        FeatureSet.load(out)
