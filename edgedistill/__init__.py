"""edgedistill: distil labelled audio datasets for on-device classifiers.

Importing this package must stay cheap and torch-free: the `device` extra installs it without
torch, and `edgedistill --help` must answer without loading heavy libraries.
"""

__version__ = "0.1.0"
