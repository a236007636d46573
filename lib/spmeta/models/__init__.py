"""Structure-preserving models of vector fields, and an unstructured baseline.

See chapters 02 and 04 (book/02_hamiltonian_neural_networks.md, book/04_generic_neural_networks.md).
"""
from .generic import GenericNet
from .hnn import HNN
from .unstructured import VectorFieldMLP

__all__ = ["HNN", "GenericNet", "VectorFieldMLP"]
