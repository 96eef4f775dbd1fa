"""edgedistill.device: the runtime for the phone or single-board computer.

numpy + onnxruntime or LiteRT only. Must never import torch or any host module of edgedistill
(only other `edgedistill.device` modules); tests/test_device_no_torch.py enforces it.
"""
