"""pytest runs default to the quick scale; an explicit SPMETA_QUICK=0 still overrides it."""
import os

os.environ.setdefault("SPMETA_QUICK", "1")


def pytest_collection_modifyitems(items):
    """nbval waits 5 s for a cell's outputs after the cell has finished; on a loaded 2-core machine the kernel's
    output thread can lag longer (a training cell with a progress bar failed so). Wait up to a minute."""
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = 60
