"""edgedistill.export: converters from trained torch artifacts to ONNX and TFLite.

Imported by the CLI only; may import torch and the host package, never at package import time.
"""
