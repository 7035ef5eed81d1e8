"""tokenward: self-hosted connector authentication for embedded integrations."""

__all__ = ["__version__"]

__version__ = "0.1.0"
