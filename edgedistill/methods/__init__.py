"""Distillation methods and selectors. The method registry is `distiller.DISTILLERS` (name -> a
`Distiller`, imported lazily so listing the names needs no torch). Must not import torch.
"""

from edgedistill.methods.distiller import DISTILLERS

__all__ = ["DISTILLERS"]
