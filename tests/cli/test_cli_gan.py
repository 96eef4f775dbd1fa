"""`edgedistill distill gan FEAT` and `edgedistill sample GEN` end to end on the toy feature set."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")

from edgedistill.cli.main import app  # noqa: E402
from edgedistill.data.featureset import FeatureSet  # noqa: E402
from edgedistill.methods.gan.artifact import load_generator  # noqa: E402

runner = CliRunner()
TINY = ["--steps", "2", "--z-dim", "4", "--width", "8", "--batch-size", "8", "--n-critic", "1", "--pool-models", "1",
        "--pool-epochs", "1", "--pool-every", "1", "--device", "cpu", "--threads", "1"]


def test_distill_resume_and_sample(tmp_path, toy_features_dir):
    gen_dir = tmp_path / "gen"
    result = runner.invoke(app, ["distill", "gan", str(toy_features_dir), "--out", str(gen_dir), "--arch", "gan-att", *TINY, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["generator_bytes"] > 0 and report["n_train"] == 64
    assert not (tmp_path / "gen.ckpt").exists()  # the training state is removed after success
    assert load_generator(gen_dir).arch == "gan-att"
    assert load_generator(gen_dir).gan_config["pool_model"] == "cnn4"  # the default pool: train_model snapshots of cnn4

    from edgedistill.methods.gan.config import GANConfig
    from edgedistill.methods.gan.loop import distill
    from edgedistill.data.featureset import FeatureSet

    train = FeatureSet.load(toy_features_dir).by_split("train")
    config = GANConfig(arch="gan-att", steps=2, z_dim=4, width=8, batch_size=8, n_critic=1, pool_models=1, pool_epochs=1,
                       pool_every=1, device="cpu", threads=1)
    distill(train, config, progress=False, checkpoint=tmp_path / "gen.ckpt")  # a run stopped at step 2, state kept
    args = [*TINY]
    args[args.index("--steps") + 1] = "3"
    result = runner.invoke(app, ["distill", "gan", str(toy_features_dir), "--out", str(tmp_path / "gen2"), "--arch", "gan-att",
                                 *args, "--checkpoint", str(tmp_path / "gen.ckpt"), "--resume", "--json"])
    assert result.exit_code == 0, result.output
    assert [h["step"] for h in load_generator(tmp_path / "gen2").history][-1] == 3

    out = tmp_path / "generated"
    result = runner.invoke(app, ["sample", str(gen_dir), "--per-class", "5", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 20
    data = FeatureSet.load(out)
    assert np.bincount(data.y).tolist() == [5, 5, 5, 5] and data.x.shape[1:] == (40, 101)
    result = runner.invoke(app, ["sample", str(gen_dir), "--per-class", "5", "--out", str(tmp_path / "p"), "--prior",
                                 "--format", "coreset"])
    assert result.exit_code == 0, result.output
    from edgedistill.methods.coreset import load_coreset

    coreset = load_coreset(tmp_path / "p", labels=data.labels)
    assert len(coreset.y) == 20 and coreset.meta.method["name"] == "gan-sample"

    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(toy_features_dir), "--generator", str(gen_dir), "--per-class", "6",
                                 "--epochs", "1", "--model-arg", "width=4", "--min-steps", "0", "--threads", "1", "--out", str(run), "--json"])
    assert result.exit_code == 0, result.output
    from edgedistill.artifacts import read_meta

    described = read_meta(run).extra["training_data"]
    assert described["source"] == "generator" and described["n_samples"] == 24


def test_user_errors(tmp_path, toy_features_dir):
    result = runner.invoke(app, ["distill", "gan", str(toy_features_dir), "--out", str(tmp_path / "g"), *TINY, "--resume"])
    assert isinstance(result.exception, ValueError) and "no training state" in str(result.exception)
    result = runner.invoke(app, ["distill", "gan", str(toy_features_dir), "--out", str(tmp_path / "g"), *TINY,
                                 "--input", "hubert", "--ssl-weights", str(tmp_path / "missing")])
    assert isinstance(result.exception, ValueError) and "HuBERT weights not found" in str(result.exception)
    result = runner.invoke(app, ["distill", "gan", str(toy_features_dir), "--out", str(tmp_path / "g"), "--arch", "vae"])
    assert isinstance(result.exception, ValueError) and "gan-cnn" in str(result.exception)
    result = runner.invoke(app, ["distill", "gan", str(toy_features_dir), "--out", str(tmp_path / "g"), *TINY, "--pool-model", "vgg"])
    assert isinstance(result.exception, ValueError) and "pool_model: unknown model 'vgg'" in str(result.exception)


def test_distill_gan_sizes_the_generator_and_warns_when_it_is_not_smaller(tmp_path, toy_features_dir):
    """Without --width the generator is sized to the 64 training clips (1.03 MB of features):
    width 8, 0.57 MB; --width 64 (4.5 MB) warns that keeping the features is cheaper."""
    from edgedistill.methods.gan.loop import GeneratorSizeWarning

    args = [*TINY]
    del args[args.index("--width"):args.index("--width") + 2]
    args[args.index("--z-dim") + 1] = "64"
    result = runner.invoke(app, ["distill", "gan", str(toy_features_dir), "--out", str(tmp_path / "auto"), *args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert load_generator(tmp_path / "auto").builder_kwargs["width"] == 8
    assert report["generator_bytes"] < report["train_feature_bytes"] == 64 * 40 * 101 * 4
    with pytest.warns(GeneratorSizeWarning, match="not smaller than the 64 training clips' features"):
        result = runner.invoke(app, ["distill", "gan", str(toy_features_dir), "--out", str(tmp_path / "wide"), *args,
                                     "--width", "64", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["generator_bytes"] > report["train_feature_bytes"]
