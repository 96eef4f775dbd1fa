"""k-means medoids: distinct real rows, one per well-separated cluster, seeded; RFAD's kmeans init."""

import numpy as np
import pytest

from edgedistill.methods.kmeans import kmeans_medoids


def blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = np.concatenate([c + rng.standard_normal((40, 2)) for c in centres])
    return points, centres


def test_one_medoid_per_cluster_nearest_its_mean():
    points, _ = blobs()
    chosen = kmeans_medoids(points, 3, seed=1)
    assert len(set(chosen.tolist())) == 3
    assert sorted(i // 40 for i in chosen) == [0, 1, 2]
    for i in chosen:
        cluster = points[(i // 40) * 40:(i // 40 + 1) * 40]
        nearest = np.linalg.norm(cluster - cluster.mean(0), axis=1).argmin()
        assert i == (i // 40) * 40 + nearest


def test_seeded_distinct_and_bounded():
    points, _ = blobs(1)
    a, b = kmeans_medoids(points, 10, seed=5), kmeans_medoids(points, 10, seed=5)
    assert np.array_equal(a, b)
    assert len(set(a.tolist())) == 10
    assert np.array_equal(np.sort(kmeans_medoids(points[:4], 4, seed=0)), np.arange(4))  # k = n: every row once
    duplicates = np.zeros((5, 3))
    assert len(set(kmeans_medoids(duplicates, 3, seed=0).tolist())) == 3  # identical rows still give distinct picks
    with pytest.raises(ValueError, match="k must be between 1"):
        kmeans_medoids(points, 500, seed=0)


def test_rfad_kmeans_init_starts_from_real_clips_of_each_class(toy_featureset):
    pytest.importorskip("torch")
    from edgedistill.methods.random_features import band_stats
    from edgedistill.methods.rfad import RFADConfig, initial_coreset

    train = toy_featureset.by_split("train")
    config = RFADConfig(ipc=2, init="kmeans", n_nets=2, width=4, n_features=32, device="cpu")
    mean, std = band_stats(train.x)
    z, y = initial_coreset(train, config, mean, std)
    x = z.astype(np.float64) * std[:, None] + mean[:, None]
    real = np.asarray(train.x, dtype=np.float64)
    for row, label in zip(x, y):
        match = np.flatnonzero(np.abs(real - row).reshape(len(real), -1).max(1) < 1e-4)
        assert len(match) >= 1 and train.y[match[0]] == label
    again, _ = initial_coreset(train, config, mean, std)
    assert np.array_equal(z, again)
