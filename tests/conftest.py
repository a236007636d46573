"""Unit tests use one torch thread: their tensors are tiny, and two threads beside any other process on a
2-core machine slow them down many times over (see the performance notes)."""
import torch

torch.set_num_threads(1)
