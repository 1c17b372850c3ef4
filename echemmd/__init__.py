"""echemmd: molecular dynamics for machine-learning potentials at electrochemical interfaces."""

__version__ = "0.1.0"

from echemmd.system import System  # noqa: E402

__all__ = ["System", "__version__"]
