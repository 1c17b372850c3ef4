"""The scalar math of the CPU kernels, compiled a second time as CUDA device functions.

Nothing here is rewritten: each name is the plain Python function of a CPU kernel module passed
through :func:`echemmd.kernels.cuda.launch.device`, so the CPU and CUDA kernels evaluate the same
source (DESIGN §10). A function built by a factory on compiled callees
(``kernels.ewald.make_real_space_pair``) is built again here on the device callees.
"""

from echemmd.kernels import cutoffs, ewald, neighbors, pair, special
from echemmd.kernels.cuda.launch import device

cutoff_fdf = device(cutoffs.cutoff_fdf)
erfc_exp = device(special.erfc_exp)
switch = device(ewald.switch)
real_space_pair = device(ewald.make_real_space_pair(switch, erfc_exp))
lennard_jones = device(pair.lennard_jones)
born_mayer_huggins = device(pair.born_mayer_huggins)
pair_vector = device(neighbors.pair_vector)
add_outer = device(neighbors.add_outer)
closest_in_row = device(neighbors.make_closest_in_row(pair_vector))
real_space_entry = device(ewald.make_real_space_entry(pair_vector, real_space_pair))
pair_potential = device(pair.make_pair(lennard_jones, born_mayer_huggins))

# Activations (kernels.activations): the scalar functions, then the chains built on them by the
# CPU module's factories (shifted softplus calls softplus; the code dispatch calls all of them).
from echemmd.kernels import activations as _activations  # noqa: E402  (appended block: others append too)

act_linear = device(_activations.linear)
act_tanh = device(_activations.tanh)
act_softplus = device(_activations.softplus)
act_shifted_softplus = device(_activations.make_shifted_softplus(act_softplus))
act_logistic = device(_activations.logistic)
act_relu = device(_activations.relu)
act_gaussian = device(_activations.gaussian)
act_cos = device(_activations.cos)
act_revlogistic = device(_activations.revlogistic)
act_exp = device(_activations.exp)
act_harmonic = device(_activations.harmonic)
activate = device(_activations.make_activate(act_linear, act_tanh, act_softplus, act_shifted_softplus, act_logistic,
                                             act_relu, act_gaussian, act_cos, act_revlogistic, act_exp,
                                             act_harmonic))

# Ewald (kernels.cuda.ewald): scalar math with no CPU twin to compile. The CPU reciprocal kernels
# build their phases by recurrence over the index tables and the CPU self term is a numpy line in
# electrostatics.Ewald._evaluate; these are the same formulas for one value on the device.
import math as _math  # noqa: E402  (appended block)

from numba import config as _config  # noqa: E402

_SQRT_PI = _math.sqrt(_math.pi)


def self_potential(q, sigma, alpha, ke):
    """Self (and alpha self-interaction) potential of one charge, 2 k_e q (1/(2 sqrt(pi) sigma) - alpha/sqrt(pi)), V.

    The Gaussian term only for sigma > 0 (point charges have none); q in e, sigma in Å, alpha
    in 1/Å, ke in eV Å/e^2. Written in the order of ``Ewald._evaluate`` (2 ke q times the bracket).
    """
    inv_self = -alpha / _SQRT_PI
    if sigma > 0.0:
        inv_self = 1.0 / (2.0 * _SQRT_PI * sigma) - alpha / _SQRT_PI
    return 2.0 * ke * q * inv_self


ewald_self_potential = device(self_potential)


def _sincos_2pi_sim(x):
    """(sin 2 pi x, cos 2 pi x) for the simulator, reduced to |x| <= 1/2 first as sincospi is."""
    r = x - _math.floor(x + 0.5)
    t = 2.0 * _math.pi * r
    return _math.sin(t), _math.cos(t)


if _config.ENABLE_CUDASIM:
    # The simulator runs device functions as Python and has no libdevice.
    sincos_2pi = device(_sincos_2pi_sim)
else:
    from numba.cuda import libdevice as _libdevice

    def _sincos_2pi(x):
        """(sin 2 pi x, cos 2 pi x) by libdevice's sincospi: the argument reduction is exact (x - nearest
        integer), so there is no Payne-Hanek slow path and one call gives both values."""
        return _libdevice.sincospi(2.0 * x)

    sincos_2pi = device(_sincos_2pi)

# Symmetry functions (kernels.descriptors): the scalar math of the CPU passes, then the functions
# built on it by the CPU module's factories, on the device builds of their callees.
from echemmd.kernels import descriptors as _descriptors  # noqa: E402  (appended with the descriptor kernels)

power = device(_descriptors.power)
radial_part = device(_descriptors.radial_part)
cutoffs_at = device(_descriptors.make_cutoffs_at(cutoff_fdf))
radial_part_at = device(_descriptors.make_radial_part_at(radial_part))
radial_values = device(_descriptors.make_radial_values(radial_part))
radial_gradient = device(_descriptors.radial_gradient)
jk_vector = device(_descriptors.jk_vector)
narrow_factor = device(_descriptors.make_narrow_factor(cutoff_fdf, radial_part))
group_radial = device(_descriptors.make_group_radial(jk_vector, narrow_factor))
angular_power = device(_descriptors.make_angular_power(power))
derivative_power = device(_descriptors.make_derivative_power(power))
pair_sums = device(_descriptors.make_pair_sums(group_radial, derivative_power))
pair_force = device(_descriptors.make_pair_force(pair_sums))
add_gradient = device(_descriptors.add_gradient)
element_block = device(_descriptors.element_block)
entry_gradient = device(_descriptors.entry_gradient)
