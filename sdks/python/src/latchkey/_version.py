"""The package's version (kept equal to the server's)."""

__version__ = "0.1.0"
