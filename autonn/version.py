"""autonn's version, in one place (the package metadata and every export's manifest read it)."""

__version__ = "0.1.0"
