"""Write the example training sets of molten NaCl, labelled by the engine (Tosi–Fumi + Ewald).

* ``inputs/nacl_train.extxyz``: 60 frames of 64 ions (1500 K, 1.50 g/cm^3), 20 steps of 2 fs apart;
* ``inputs/nacl_test216.extxyz``: 8 frames of 216 ions, an independent run, to test a model on
  larger cells than it was trained on (where a network without long-range electrostatics fails).

Energies (eV), forces (eV/Å), stress (eV/Å^3) and the charges (+-1 e) of the reference force
field are stored with provenance. Regenerate with ``python inputs/make_training_data.py``
(about 15 s on 2 cores); the same seeds give the same files.
"""

from pathlib import Path

from echemmd import __version__
from echemmd.io.dataset import write_dataset
from echemmd.training.synthetic import molten_nacl

HERE = Path(__file__).resolve().parent
PROVENANCE = {"method": "Tosi-Fumi BMH (shifted at 8 A) + Ewald point charges +-1 e (accuracy 1e-8)",
              "sampling": "Langevin MD 1500 K, 1.50 g/cm^3, dt 2 fs, every 20 steps",
              "code": f"echemmd {__version__} (echemmd.training.synthetic.molten_nacl)"}


def main():
    train = molten_nacl(60, repeat=2, every=20, equilibrate=300, seed=0)
    write_dataset(HERE / "nacl_train.extxyz", train, PROVENANCE)
    test = molten_nacl(8, repeat=3, every=20, equilibrate=300, seed=7)
    write_dataset(HERE / "nacl_test216.extxyz", test, PROVENANCE)
    print(f"wrote {HERE / 'nacl_train.extxyz'} ({len(train)} frames) and {HERE / 'nacl_test216.extxyz'} "
          f"({len(test)} frames)")


if __name__ == "__main__":
    main()
