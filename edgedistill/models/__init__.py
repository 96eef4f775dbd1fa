"""edgedistill.models."""
