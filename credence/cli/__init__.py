"""The ``credence`` command: the top layer, importing whatever it needs."""

from credence.cli.main import main

__all__ = ["main"]
