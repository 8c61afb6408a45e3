"""leechkit.cli: the ``leechkit`` command."""

from .main import main

__all__ = ["main"]
