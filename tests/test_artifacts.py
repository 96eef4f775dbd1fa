"""Artifact round trip and every refusal case."""

import json
from dataclasses import replace

import numpy as np
import pytest

from edgedistill.artifacts import SCHEMAS, ArtifactError, Meta, read_meta, write_artifact
from edgedistill.features import get_preset


def make_meta(**overrides) -> Meta:
    config = get_preset("kws")
    fields = dict(schema="edgedistill.coreset", feature_config=config.to_dict(), feature_id=config.feature_id,
                  labels=["yes", "no"], method={"name": "rfad", "config": {"ipc": 2}}, seed=3,
                  metrics={"accuracy": 0.9}, extra={"payload": "coreset.npz"})
    fields.update(overrides)
    return Meta(**fields)


def write_example(path):
    return write_artifact(path, make_meta(), lambda tmp: np.savez(tmp / "coreset.npz", x=np.ones((2, 3))))


def test_round_trip(tmp_path):
    out = write_example(tmp_path / "art")
    meta = read_meta(out, schema="edgedistill.coreset", features=get_preset("kws"))
    assert meta.labels == ["yes", "no"] and meta.seed == 3 and meta.metrics == {"accuracy": 0.9}
    assert meta.extra == {"payload": "coreset.npz"}
    assert meta.schema_version == SCHEMAS["edgedistill.coreset"]
    assert meta.package_version and meta.created
    assert np.load(out / "coreset.npz", allow_pickle=False)["x"].shape == (2, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]  # no temporary left


def test_never_overwrites(tmp_path):
    write_example(tmp_path / "art")
    with pytest.raises(ArtifactError, match="already exists"):
        write_example(tmp_path / "art")


def test_failed_payload_leaves_nothing(tmp_path):
    def broken(tmp):
        (tmp / "half.npz").write_bytes(b"x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_artifact(tmp_path / "art", make_meta(), broken)
    assert list(tmp_path.iterdir()) == []


def edit_meta(path, change):
    data = json.loads((path / "meta.json").read_text())
    change(data)
    (path / "meta.json").write_text(json.dumps(data))


def test_refuses_unknown_schema_version(tmp_path):
    out = write_example(tmp_path / "art")
    edit_meta(out, lambda d: d.update(schema_version=99))
    with pytest.raises(ArtifactError, match="schema version 99 is not supported"):
        read_meta(out)


def test_refuses_unknown_schema_name(tmp_path):
    out = write_example(tmp_path / "art")
    edit_meta(out, lambda d: d.update(schema="someone.else"))
    with pytest.raises(ArtifactError, match="unknown schema 'someone.else'"):
        read_meta(out)


@pytest.mark.parametrize("field", ["feature_id", "labels", "schema_version", "metrics"])
def test_refuses_missing_field(tmp_path, field):
    out = write_example(tmp_path / "art")
    edit_meta(out, lambda d: d.pop(field))
    with pytest.raises(ArtifactError, match=f"missing field\\(s\\) {field}"):
        read_meta(out)


def test_refuses_malformed_fields(tmp_path):
    out = write_example(tmp_path / "art")
    edit_meta(out, lambda d: d.update(labels="yes,no"))
    with pytest.raises(ArtifactError, match="field 'labels' should be list, got str"):
        read_meta(out)
    edit_meta(out, lambda d: d.update(labels=["yes", 3]))
    with pytest.raises(ArtifactError, match="list of strings"):
        read_meta(out)
    (out / "meta.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="not valid JSON"):
        read_meta(out)


def test_refuses_other_schema_and_missing_dir(tmp_path):
    out = write_example(tmp_path / "art")
    with pytest.raises(ArtifactError, match="is a edgedistill.coreset artifact; this step needs edgedistill.generator"):
        read_meta(out, schema="edgedistill.generator")
    with pytest.raises(ArtifactError, match="does not exist"):
        read_meta(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match="has no meta.json"):
        read_meta(tmp_path / "empty")


def test_refuses_feature_mismatch_and_names_the_difference(tmp_path):
    out = write_example(tmp_path / "art")
    other = replace(get_preset("kws"), n_mfcc=13)
    with pytest.raises(ArtifactError, match=r"n_mfcc: 40 vs 13") as err:
        read_meta(out, features=other)
    assert get_preset("kws").feature_id in str(err.value) and other.feature_id in str(err.value)
    with pytest.raises(ArtifactError, match="made with features"):
        read_meta(out, features="0123456789abcdef")


def test_unknown_schema_cannot_be_written():
    with pytest.raises(ArtifactError, match="unknown artifact schema"):
        make_meta(schema="edgedistill.nonsense")
