"""Host access to the feature front-end.

The one definition lives in `edgedistill.device.features` (numpy only) so host and device
compute identical features; this module re-exports it for host code. Must not import torch.
"""

from edgedistill.device.features import (  # noqa: F401
    PRESETS,
    FeatureConfig,
    extract,
    extract_batch,
    fit_length,
    get_preset,
)
