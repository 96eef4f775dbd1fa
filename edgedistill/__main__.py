"""`python -m edgedistill ...`: the same as the `edgedistill` command (torchrun starts ranks this way)."""

from edgedistill.cli.main import main

if __name__ == "__main__":
    main()
