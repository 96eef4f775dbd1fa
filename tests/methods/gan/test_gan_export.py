"""The generator graph exports to ONNX with the contract's names and a dynamic batch (slow: ~20 s each)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from edgedistill.methods.gan.architectures import ARCHITECTURES, build  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHITECTURES.names())
def test_generator_exports_to_onnx(tmp_path, arch):
    generator, _ = build(arch, n_classes=4, input_shape=(40, 101), z_dim=8, width=16)
    generator.eval()
    batch = torch.export.Dim("B")
    path = tmp_path / "generator.onnx"
    torch.onnx.export(generator, (torch.randn(2, 8), torch.eye(4)[:2]), str(path), input_names=["z", "label_onehot"],
                      output_names=["features"], dynamic_shapes={"z": {0: batch}, "label_onehot": {0: batch}},
                      dynamo=True, external_data=False)
    z, onehot = torch.randn(5, 8), torch.eye(4)[[0, 1, 2, 3, 0]]
    out = ort.InferenceSession(str(path)).run(["features"], {"z": z.numpy(), "label_onehot": onehot.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(out, generator(z, onehot).numpy(), atol=1e-5)
