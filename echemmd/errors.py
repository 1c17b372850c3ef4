"""Exceptions that carry a message meant for a person."""


class EchemmdError(Exception):
    """Base class of all echemmd errors."""


class InputError(EchemmdError):
    """Bad input: a deck key, a value, a file or a structure. The CLI exits with code 2."""


class SimulationError(EchemmdError):
    """A run that had to stop (NaN, huge forces, overlapping atoms, interrupted)."""


class NeighborListError(EchemmdError):
    """The neighbour list cannot be built (cell too small, degenerate cell)."""
