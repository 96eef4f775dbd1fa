"""Every model exports with torch.onnx (opset 18, dynamic batch) and onnxruntime reproduces
torch's logits: the contract the export part relies on."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")

from edgedistill.models import MODELS, build_model, set_input_stats  # noqa: E402

SHAPE = (40, 101)
SMALL = {"resnet18": {"width": 8}}


@pytest.mark.parametrize("name", MODELS.names())
def test_onnx_export_matches_torch(name, tmp_path, rng):
    torch.manual_seed(0)
    model = build_model(name, 6, SHAPE, **SMALL.get(name, {}))
    x = (rng.normal(size=(3, *SHAPE)) * 5 + 2).astype(np.float32)
    set_input_stats(model, x)
    model.eval()
    path = tmp_path / f"{name}.onnx"
    batch = torch.export.Dim("batch", min=1, max=1024)
    torch.onnx.export(model, (torch.as_tensor(x),), str(path), dynamo=True, external_data=False, opset_version=18,
                      input_names=["features"], output_names=["logits"], dynamic_shapes=({0: batch},))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(torch.as_tensor(x)).numpy()
    for rows in (slice(0, 3), slice(0, 1)):
        (got,) = session.run(["logits"], {"features": x[rows]})
        np.testing.assert_allclose(got, expected[rows], atol=1e-4, rtol=1e-4)
