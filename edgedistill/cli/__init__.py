"""edgedistill.cli."""
