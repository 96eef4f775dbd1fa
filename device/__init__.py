"""edgedistill.device: the runtime for the phone or single-board computer.

numpy + onnxruntime or LiteRT only. Must never import torch or any host module of edgedistill
(only other `edgedistill.device` modules); tests/device/test_no_torch.py enforces it.

Modules: runtime (ORT / LiteRT sessions), predictor (load exported or device-trained models),
infer, bench, sample, train (dispatcher) with krr / head / full, trainset (labelled inputs),
devmodel (the device-model artifact), metrics, features (the one front-end), audio, artifacts.
"""
