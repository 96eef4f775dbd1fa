"""Feature caches read on demand: `MappedRows` reads rows like an ndarray, splits are lazy views,
and the peak resident memory of a short RFAD run on a cache 10x larger stays within a small
margin of the smaller cache's (measured in fresh subprocesses with resource.getrusage)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from edgedistill.data.featureset import FeatureSet
from edgedistill.data.mapped import MappedRows
from edgedistill.features import get_preset

# The large cache is 83 MB bigger: reading its train split whole would exceed this. Measured here:
# +0.5 MB (init real), +6.3 MB (init kmeans: one class's random features are held for k-means).
MARGIN_MB = 12


def test_mapped_rows_index_like_an_array(tmp_path, rng):
    x = rng.standard_normal((50, 3, 4)).astype(np.float32)
    np.save(tmp_path / "a.npy", x)
    rows = MappedRows.open(tmp_path / "a.npy")
    assert rows.shape == (50, 3, 4) and len(rows) == 50 and rows.dtype == np.float32
    for key in (7, -1, slice(3, 9), slice(None, None, 5), np.array([4, 2, 40]), x[:, 0, 0] > 0):
        np.testing.assert_array_equal(rows[key], x[key])
    np.testing.assert_array_equal(rows[3, 1], x[3, 1])
    np.testing.assert_array_equal(rows[[1, 2], 0], x[[1, 2], 0])
    np.testing.assert_array_equal(np.asarray(rows), x)
    view = rows.take(np.array([10, 3, 30, 31]))
    assert view.shape == (4, 3, 4)
    np.testing.assert_array_equal(view[1:], x[[3, 30, 31]])
    np.testing.assert_array_equal(view.take([True, False, False, True])[:], x[[10, 31]])
    with pytest.raises(IndexError):
        rows[50]
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="bad.npy"):
        MappedRows.open(tmp_path / "bad.npy")


def test_splits_of_a_loaded_cache_are_lazy_views(toy_featureset, toy_features_dir):
    loaded = FeatureSet.load(toy_features_dir)
    train = loaded.by_split("train")
    assert isinstance(train.x, MappedRows)
    np.testing.assert_array_equal(train.x[:], toy_featureset.by_split("train").x)


def _cache(path, n, seed):
    config = get_preset("kws")
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    x = rng.standard_normal((n, *config.shape)).astype(np.float32) + y[:, None, None] * 0.1
    FeatureSet(x=x, y=y, labels=[f"c{i}" for i in range(4)], config=config, split=np.full(n, "train", dtype=object),
               path=np.array([f"clip{i}.wav" for i in range(n)], dtype=object), dataset="big").save(path)
    return path


PEAK = """
import json, resource, sys
import numpy as np
import torch
torch.set_num_threads(1)
from edgedistill.methods.rfad import RFADConfig, distill
from edgedistill.methods.distiller import training_splits
_, train, valid = training_splits(sys.argv[1])
config = RFADConfig(ipc=2, steps=3, batch_size=64, n_nets=2, width=4, n_features=16, init=sys.argv[2], threads=1,
                    device="cpu")
distill(train.subset(np.arange(32)), config.replace(steps=1), progress=False)  # lazy torch imports happen here
coreset = distill(train, config, progress=False, valid=valid)
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "n": len(train)}))
"""


def _peak(feat, init) -> dict:
    result = subprocess.run([sys.executable, "-c", PEAK, str(feat), init], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("init", ["real", "kmeans"])
def test_peak_memory_does_not_grow_with_the_cache(tmp_path_factory, init):
    root = tmp_path_factory.getbasetemp() / "mapped_caches"
    small = root / "small" if (root / "small").exists() else _cache(root / "small", 600, 0)
    large = root / "large" if (root / "large").exists() else _cache(root / "large", 6000, 1)
    a, b = _peak(small, init), _peak(large, init)
    assert (a["n"], b["n"]) == (600, 6000)
    cache_growth = (6000 - 600) * 40 * 101 * 4 / 2**20
    print(f"init={init}: peak RSS {a['peak_mb']:.1f} MB (600 clips) vs {b['peak_mb']:.1f} MB (6000 clips); "
          f"the cache grew {cache_growth:.0f} MB")
    assert b["peak_mb"] - a["peak_mb"] < MARGIN_MB
