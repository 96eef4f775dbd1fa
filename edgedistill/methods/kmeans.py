"""Seeded k-means (k-means++ seeding, Lloyd iterations) that returns medoids: real rows nearest the centroids.

Used to pick representative real samples of a class, e.g. RFAD's ``init="kmeans"`` picks the
clips nearest the k centroids of the class in the random-feature space. Pure numpy on a
(n, d) float array; imports nothing from edgedistill and no torch.
"""

from __future__ import annotations

import numpy as np


def kmeans_medoids(points: np.ndarray, k: int, seed: int, iterations: int = 30) -> np.ndarray:
    """Indices (k,) of k distinct rows of `points` (n, d), each the row nearest one k-means centroid.

    k-means++ seeding then Lloyd iterations (stops early once assignments settle); an emptied
    cluster is re-seeded with the row farthest from its centroid. Ties and re-seeding depend only
    on `seed`. Medoids are chosen greedily, centroid by centroid in order of cluster size, so no
    row is chosen twice. Raises ValueError when k exceeds the number of rows.
    """
    x = np.asarray(points, dtype=np.float64)
    n = len(x)
    if not 1 <= k <= n:
        raise ValueError(f"k-means: k must be between 1 and the number of rows ({n}), got {k}")
    rng = np.random.default_rng(seed)
    sq_norms = (x ** 2).sum(1)

    def distances(centres: np.ndarray) -> np.ndarray:  # (n, k) squared distances
        return np.maximum(sq_norms[:, None] - 2.0 * x @ centres.T + (centres ** 2).sum(1)[None, :], 0.0)

    centres = [x[rng.integers(n)]]
    nearest = distances(np.array(centres))[:, 0]
    for _ in range(1, k):
        total = nearest.sum()
        pick = rng.choice(n, p=nearest / total) if total > 0 else rng.integers(n)
        centres.append(x[pick])
        nearest = np.minimum(nearest, distances(x[pick][None])[:, 0])
    centres = np.array(centres)
    assign = None
    for _ in range(iterations):
        dist = distances(centres)
        new_assign = dist.argmin(1)
        if assign is not None and np.array_equal(new_assign, assign):
            break
        assign = new_assign
        for c in range(k):
            members = assign == c
            if members.any():
                centres[c] = x[members].mean(0)
            else:
                far = int(dist[np.arange(n), assign].argmax())
                centres[c], assign[far] = x[far], c
    dist = distances(centres)
    sizes = np.bincount(dist.argmin(1), minlength=k)
    chosen: list[int] = []
    for c in np.argsort(-sizes, kind="stable"):
        order = np.argsort(dist[:, c], kind="stable")
        chosen.append(int(next(i for i in order if i not in chosen)))
    return np.array(chosen, dtype=np.int64)
