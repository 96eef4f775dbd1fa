"""Distillation methods, by name.

``METHODS[name]`` is the method's ``distill`` entry point, imported lazily so listing the names
needs no torch. Must not import torch at module level.
"""

from edgedistill.registry import Registry

METHODS = Registry("method", {
    "rfad": "edgedistill.methods.rfad:distill",
    "gan": "edgedistill.methods.gan.loop:distill",
})
