"""pytest runs default to the quick scale; an explicit SPMETA_QUICK=0 still overrides it."""
import os

os.environ.setdefault("SPMETA_QUICK", "1")
