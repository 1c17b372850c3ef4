"""Activation functions of the atomic neural networks: value, first and second derivative.

Each activation is written once as a plain Python function of one float
``x`` returning ``(f(x), f'(x))`` (``tanh``, ...), and once more with the second
derivative, ``(f(x), f'(x), f''(x))`` (``tanh2``, ...; needed for the parameter
gradient of force losses, ``kernels.network.network_parameter_gradient``); the
``2`` variants repeat the first-derivative arithmetic operation for operation,
so their f and f' are bitwise equal to the plain ones. They are compiled here with
``numba.njit(inline="always")`` for the CPU kernels and in
``kernels.cuda.scalar`` as CUDA device functions (only ``math`` is used). The code
dispatch ``activate(code, x)`` (and ``activate2``) and ``shifted_softplus`` call other
activations, so they are built by factories on the compiled callees
(``make_activate``, ``make_shifted_softplus``): each target compiles its own chain
from the one source (DESIGN §10).

The definitions follow n2p2's ``NeuralNetwork::propagateLayer`` exactly,
including its overflow guards, so that a network read from n2p2 files gives
n2p2's numbers:

========  ===============  ===========================================  =========================
code      name             f(x)                                         n2p2 letter
========  ===============  ===========================================  =========================
0         linear           x                                            l
1         tanh             tanh x                                       t
2         softplus         ln(1 + e^x); x for x > 35, 0 for x < -35     p
3         shifted_softplus softplus(x) - ln 2 (f(0) = 0)                none (exported as p with
                                                                        the -ln 2 folded into the
                                                                        next layer's biases)
4         logistic         1 / (1 + e^-x); 1 for x > 35, 0 for x < -35  s
5         relu             max(0, x) (f'(0) = 0)                        r
6         gaussian         exp(-x^2 / 2)                                g
7         cos              cos x                                        c
8         revlogistic      1 - 1 / (1 + e^-x)                           S
9         exp              exp(-x)                                      e
10        harmonic         x^2                                          h
========  ===============  ===========================================  =========================

Note that n2p2's "exp" is exp(-x), its "gaussian" has the 1/2 in the exponent
and its softplus/logistic are clamped at |x| > 35 (where e^-35 ~ 6e-16 is below
double precision relative to the value) with zero derivative beyond the clamp.

Second derivatives (s = 1 / (1 + e^-x)):

================  ==========================================================
name              f''(x)
================  ==========================================================
linear, relu      0 (relu: also at the kink)
tanh              -2 f f'
softplus,         s (1 - s) = f' (1 - f'); 0 for |x| > 35 (consistent with the
shifted_softplus  clamped f')
logistic          f' (1 - 2 f); 0 for |x| > 35
gaussian          (x^2 - 1) f
cos               -cos x
revlogistic       s (1 - s) (2 s - 1)   (f' = s (s - 1))
exp               f = exp(-x)
harmonic          2
================  ==========================================================
"""

import math

import numpy as np
from numba import njit

LINEAR = 0
TANH = 1
SOFTPLUS = 2
SHIFTED_SOFTPLUS = 3
LOGISTIC = 4
RELU = 5
GAUSSIAN = 6
COS = 7
REVLOGISTIC = 8
EXP = 9
HARMONIC = 10

#: Activation name -> integer code used by the kernels.
CODES = {
    "linear": LINEAR,
    "tanh": TANH,
    "softplus": SOFTPLUS,
    "shifted_softplus": SHIFTED_SOFTPLUS,
    "logistic": LOGISTIC,
    "relu": RELU,
    "gaussian": GAUSSIAN,
    "cos": COS,
    "revlogistic": REVLOGISTIC,
    "exp": EXP,
    "harmonic": HARMONIC,
}
NAMES = {code: name for name, code in CODES.items()}

#: n2p2's activation letters (input.nn ``global_activation_short``) -> our names.
N2P2_LETTERS = {
    "l": "linear",
    "t": "tanh",
    "p": "softplus",
    "s": "logistic",
    "r": "relu",
    "g": "gaussian",
    "c": "cos",
    "S": "revlogistic",
    "e": "exp",
    "h": "harmonic",
}
#: Our names -> n2p2 letters (shifted_softplus has none: see ``ElementNetwork.n2p2_compatible``).
N2P2_LETTER_OF = {name: letter for letter, name in N2P2_LETTERS.items()}

# n2p2's EXP_LIMIT: beyond it softplus and logistic are replaced by their asymptotes.
EXP_LIMIT = 35.0
LN2 = math.log(2.0)


def linear(x):
    """f = x."""
    return x, 1.0


def tanh(x):
    """f = tanh x, f' = 1 - f^2."""
    t = math.tanh(x)
    return t, 1.0 - t * t


def softplus(x):
    """f = ln(1 + e^x), f' = logistic(x); asymptotes beyond |x| > 35 as in n2p2."""
    if x > EXP_LIMIT:
        return x, 1.0
    if x < -EXP_LIMIT:
        return 0.0, 0.0
    e = math.exp(x)
    # Same operations as n2p2 (log(1 + e), 1 / (1 + 1/e)) so values agree bit for bit.
    return math.log(1.0 + e), 1.0 / (1.0 + 1.0 / e)


def make_shifted_softplus(softplus):
    """Build ``shifted_softplus(x)`` on a given ``softplus`` (plain, CPU-compiled or device-compiled).

    The callee is passed in so that each target (Python, ``njit``, CUDA) calls its own
    compilation of the one ``softplus`` source (DESIGN §10).
    """

    def shifted_softplus(x):
        """f = softplus(x) - ln 2 (zero at x = 0), f' = logistic(x)."""
        f, d = softplus(x)
        return f - LN2, d

    return shifted_softplus


shifted_softplus = make_shifted_softplus(softplus)


def logistic(x):
    """f = 1 / (1 + e^-x), f' = f (1 - f); asymptotes beyond |x| > 35 as in n2p2."""
    if x > EXP_LIMIT:
        return 1.0, 0.0
    if x < -EXP_LIMIT:
        return 0.0, 0.0
    s = 1.0 / (1.0 + math.exp(-x))
    return s, s * (1.0 - s)


def relu(x):
    """f = max(0, x), f' = 1 for x > 0 else 0."""
    if x > 0.0:
        return x, 1.0
    return 0.0, 0.0


def gaussian(x):
    """f = exp(-x^2 / 2), f' = -x f."""
    g = math.exp(-0.5 * x * x)
    return g, -x * g


def cos(x):
    """f = cos x, f' = -sin x."""
    return math.cos(x), -math.sin(x)


def revlogistic(x):
    """n2p2's "S": f = 1 - 1 / (1 + e^-x), f' = s (s - 1) with s = 1 / (1 + e^-x)."""
    s = 1.0 / (1.0 + math.exp(-x))
    return 1.0 - s, s * (s - 1.0)


def exp(x):
    """n2p2's "e": f = exp(-x), f' = -f."""
    e = math.exp(-x)
    return e, -e


def harmonic(x):
    """f = x^2, f' = 2 x."""
    return x * x, 2.0 * x


# -- value, first and second derivative ---------------------------------------------------
# Each repeats the arithmetic of its first-derivative twin above exactly (same operations in
# the same order), so f and f' agree bit for bit; only f'' is added.


def linear2(x):
    """f = x, f' = 1, f'' = 0."""
    return x, 1.0, 0.0


def tanh2(x):
    """f = tanh x, f' = 1 - f^2, f'' = -2 f f'."""
    t = math.tanh(x)
    d = 1.0 - t * t
    return t, d, -2.0 * t * d


def softplus2(x):
    """f = ln(1 + e^x), f' = s, f'' = s (1 - s); clamped beyond |x| > 35 (f'' = 0 there)."""
    if x > EXP_LIMIT:
        return x, 1.0, 0.0
    if x < -EXP_LIMIT:
        return 0.0, 0.0, 0.0
    e = math.exp(x)
    d = 1.0 / (1.0 + 1.0 / e)
    return math.log(1.0 + e), d, d * (1.0 - d)


def shifted_softplus2(x):
    """f = softplus(x) - ln 2, f' = s, f'' = s (1 - s); clamped as ``softplus2``."""
    if x > EXP_LIMIT:
        return x - LN2, 1.0, 0.0
    if x < -EXP_LIMIT:
        return 0.0 - LN2, 0.0, 0.0
    e = math.exp(x)
    d = 1.0 / (1.0 + 1.0 / e)
    return math.log(1.0 + e) - LN2, d, d * (1.0 - d)


def logistic2(x):
    """f = s, f' = s (1 - s), f'' = f' (1 - 2 s); clamped beyond |x| > 35 (f' = f'' = 0)."""
    if x > EXP_LIMIT:
        return 1.0, 0.0, 0.0
    if x < -EXP_LIMIT:
        return 0.0, 0.0, 0.0
    s = 1.0 / (1.0 + math.exp(-x))
    d = s * (1.0 - s)
    return s, d, d * (1.0 - 2.0 * s)


def relu2(x):
    """f = max(0, x), f' = 1 for x > 0 else 0, f'' = 0."""
    if x > 0.0:
        return x, 1.0, 0.0
    return 0.0, 0.0, 0.0


def gaussian2(x):
    """f = exp(-x^2 / 2), f' = -x f, f'' = (x^2 - 1) f."""
    g = math.exp(-0.5 * x * x)
    return g, -x * g, (x * x - 1.0) * g


def cos2(x):
    """f = cos x, f' = -sin x, f'' = -cos x."""
    c = math.cos(x)
    return c, -math.sin(x), -c


def revlogistic2(x):
    """f = 1 - s, f' = s (s - 1), f'' = s (1 - s) (2 s - 1)."""
    s = 1.0 / (1.0 + math.exp(-x))
    return 1.0 - s, s * (s - 1.0), s * (1.0 - s) * (2.0 * s - 1.0)


def exp2(x):
    """f = exp(-x), f' = -f, f'' = f."""
    e = math.exp(-x)
    return e, -e, e


def harmonic2(x):
    """f = x^2, f' = 2 x, f'' = 2."""
    return x * x, 2.0 * x, 2.0


def make_activate(linear, tanh, softplus, shifted_softplus, logistic, relu, gaussian, cos, revlogistic, exp,
                  harmonic):
    """Build the dispatch ``activate(code, x) -> (f, f')`` on compiled activations.

    Returns a plain Python function; compile it with ``numba.njit(inline="always")`` for the
    CPU (``activate`` below) or as a CUDA device function
    (``kernels.cuda.scalar.activate``), passing that target's compilations of the
    activations, so the dispatch and the scalar math exist once for both.
    """

    def activate(code, x):
        """Value and derivative of activation ``code`` at ``x``."""
        # The common hidden activation first: the chain is walked in this order.
        if code == TANH:
            return tanh(x)
        if code == LINEAR:
            return linear(x)
        if code == SHIFTED_SOFTPLUS:
            return shifted_softplus(x)
        if code == SOFTPLUS:
            return softplus(x)
        if code == LOGISTIC:
            return logistic(x)
        if code == RELU:
            return relu(x)
        if code == GAUSSIAN:
            return gaussian(x)
        if code == COS:
            return cos(x)
        if code == REVLOGISTIC:
            return revlogistic(x)
        if code == EXP:
            return exp(x)
        return harmonic(x)

    return activate


_linear = njit(inline="always")(linear)
_tanh = njit(inline="always")(tanh)
_softplus = njit(inline="always")(softplus)
_shifted_softplus = njit(inline="always")(make_shifted_softplus(_softplus))
_logistic = njit(inline="always")(logistic)
_relu = njit(inline="always")(relu)
_gaussian = njit(inline="always")(gaussian)
_cos = njit(inline="always")(cos)
_revlogistic = njit(inline="always")(revlogistic)
_exp = njit(inline="always")(exp)
_harmonic = njit(inline="always")(harmonic)

#: Value and derivative of activation ``code`` at ``x`` (CPU dispatch, inlined into the kernels).
activate = njit(inline="always")(make_activate(_linear, _tanh, _softplus, _shifted_softplus, _logistic, _relu,
                                               _gaussian, _cos, _revlogistic, _exp, _harmonic))


@njit(cache=True)
def evaluate(code, x):
    """Activation ``code`` and its derivative on an array (for tests and plots).

    Parameters
    ----------
    code : int
        Activation code (see module docstring).
    x : float64 (n,)
        Pre-activations.

    Returns
    -------
    f, df : float64 (n,)
    """
    f = np.empty(x.shape[0])
    df = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        f[i], df[i] = activate(code, x[i])
    return f, df


_linear2 = njit(inline="always")(linear2)
_tanh2 = njit(inline="always")(tanh2)
_softplus2 = njit(inline="always")(softplus2)
_shifted_softplus2 = njit(inline="always")(shifted_softplus2)
_logistic2 = njit(inline="always")(logistic2)
_relu2 = njit(inline="always")(relu2)
_gaussian2 = njit(inline="always")(gaussian2)
_cos2 = njit(inline="always")(cos2)
_revlogistic2 = njit(inline="always")(revlogistic2)
_exp2 = njit(inline="always")(exp2)
_harmonic2 = njit(inline="always")(harmonic2)


#: Value, first and second derivative of activation ``code`` at ``x`` (CPU dispatch); f and f' are
#: bitwise equal to ``activate(code, x)``. The same factory as ``activate``, on the ``2`` variants.
activate2 = njit(inline="always")(make_activate(_linear2, _tanh2, _softplus2, _shifted_softplus2, _logistic2, _relu2,
                                                _gaussian2, _cos2, _revlogistic2, _exp2, _harmonic2))


@njit(cache=True)
def evaluate2(code, x):
    """Activation ``code`` with its first and second derivative on an array (for tests).

    Parameters
    ----------
    code : int
        Activation code (see module docstring).
    x : float64 (n,)
        Pre-activations.

    Returns
    -------
    f, df, d2f : float64 (n,)
    """
    f = np.empty(x.shape[0])
    df = np.empty(x.shape[0])
    d2f = np.empty(x.shape[0])
    for i in range(x.shape[0]):
        f[i], df[i], d2f[i] = activate2(code, x[i])
    return f, df, d2f
