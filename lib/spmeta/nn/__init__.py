"""Network building blocks. See chapter 02 (book/02_hamiltonian_neural_networks.md)."""
from .mlp import ACTIVATIONS, MLP

__all__ = ["MLP", "ACTIVATIONS"]
