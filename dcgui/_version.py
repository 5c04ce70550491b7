"""The package version, in a leaf module: the engine and the store read it without importing
the package root (which would import them back)."""

__version__ = "0.1.0"
