"""Units and physical constants: the only place in echemmd where a constant is written.

Internal units (DESIGN.md §2): Å, eV, fs, amu, e, K, V, V/Å.
Constants are CODATA 2018.
"""

import math

#: Boltzmann constant, eV/K.
KB = 8.617333262e-5
#: Coulomb constant 1/(4 pi eps0), eV·Å/e^2.
KE = 14.399645478
#: Acceleration of 1 eV/Å on 1 amu, in Å/fs^2.
FORCE_TO_ACCEL = 9.648533212e-3
#: Kinetic energy of 1 amu moving at 1 Å/fs, in eV (= 1 / FORCE_TO_ACCEL).
MVV_TO_EV = 1.0 / FORCE_TO_ACCEL
#: Bohr radius, Å.
BOHR = 0.529177210903
#: Hartree energy, eV.
HARTREE = 27.211386245988
#: Avogadro constant, 1/mol.
AVOGADRO = 6.02214076e23
#: Elementary charge, C.
ELEMENTARY_CHARGE = 1.602176634e-19
#: 1 eV/Å^3 in GPa.
EV_PER_A3_TO_GPA = ELEMENTARY_CHARGE * 1e30 / 1e9
#: 1 eV/mol in kJ/mol (per particle eV -> kJ/mol).
EV_TO_KJ_PER_MOL = ELEMENTARY_CHARGE * AVOGADRO / 1000.0
#: 1 eV/Å in kJ mol-1 Å-1 (force unit accepted by MDAnalysis' H5MD reader).
EV_PER_A_TO_KJ_PER_MOL_A = EV_TO_KJ_PER_MOL
#: fs per ps.
FS_PER_PS = 1000.0

PI = math.pi

#: Vacuum permittivity eps0 = 1/(4 pi k_e), e/(V·Å) (so that phi[V] = rho[e/Å^3] · Å^2 / eps0).
EPS0 = 1.0 / (4.0 * PI * KE)
#: fs per ns (energy drift is quoted per ns).
FS_PER_NS = 1.0e6
#: cm^2 per Å^2.
CM2_PER_A2 = 1.0e-16
#: Capacitance per area: 1 e/(V·Å^2) in µF/cm^2.
E_PER_V_A2_TO_UF_PER_CM2 = ELEMENTARY_CHARGE * 1.0e6 / CM2_PER_A2
#: Diffusion coefficient: 1 Å^2/fs in m^2/s.
A2_PER_FS_TO_M2_PER_S = 1.0e-20 / 1.0e-15
