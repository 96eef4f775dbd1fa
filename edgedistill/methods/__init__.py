"""edgedistill.methods."""
