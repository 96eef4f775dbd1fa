"""Dataset loaders: one module per dataset, each yielding labelled audio items. Must not import torch."""
