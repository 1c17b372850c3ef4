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
