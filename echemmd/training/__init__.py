"""Training of the short-range networks from reference data (``echemmd train``).

* :mod:`.recipes` automatic symmetry-function sets,
* :mod:`.trainer` prepared frames, the loss and its exact gradient, metrics,
* :mod:`.optimize` Adam and L-BFGS with early stopping,
* :mod:`.run` the deck-driven job: data, cache, log, report, plots.
"""
