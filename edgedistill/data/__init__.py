"""edgedistill.data."""
