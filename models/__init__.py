"""leechkit.models: the PyTorch layer (lattice kernels, attention, transformer, training).

Requires the ``torch`` extra. The model components arrive with the model-layer work; this
package is installed now so that ``leechkit.models`` is a stable import path.
"""

__all__: list[str] = []
