"""A copied ``lib/spmeta`` stands alone: the README's quickstart runs from a copy of the folder, outside the
repository (no ``results/``, ``book/`` or ``.git``), with no installed distribution but torch, numpy and scipy
(and what they need themselves)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

LIB = Path(__file__).resolve().parents[1] / "lib"


def _installed_closure(roots: list[str]) -> set[str]:
    """The distributions ``roots`` need, themselves included (their extras left out)."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # an optional dependency that is not installed: nothing to allow
        seen.add(key)
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def installed_only(roots: list[str], site: Path) -> Path:
    """A site folder in which only ``roots`` and what they need are installed: links to their files."""
    site.mkdir()
    for name in _installed_closure(roots):
        dist = metadata.distribution(name)
        for top in {Path(f).parts[0] for f in dist.files or ()} - {"..", "__pycache__"}:
            source = Path(dist.locate_file(top))
            if source.exists() and not (site / top).exists():
                (site / top).symlink_to(source)
    return site


QUICKSTART = """
import sys, json, warnings
from pathlib import Path
here = Path(sys.argv[1])
import torch, spmeta
assert Path(spmeta.__file__).resolve().is_relative_to(here), spmeta.__file__


def H(x, mu):
    q, p = x[..., 0], x[..., 1]
    m, k = mu[..., 0], mu[..., 1]
    return p**2 / (2 * m) + k * q**2 / 2


family = spmeta.HamiltonianFamily(name="my_spring", hamiltonian=H, dof=1,
                                  param_ranges={"m": (1.0, 5.0), "k": (1.0, 5.0)},
                                  t_span=(0.0, 3.0), n_steps=30, ic_sampler=None)
data = spmeta.make_dataset(family, n_train=4, n_test=2, n_traj=2, seed=0)
learner = spmeta.MetaLearner(model="hnn", modulation="rank_one", latent_dim=4)
history = learner.fit(data.train, epochs=5)
adapted = learner.adapt(data.test.support(shots=1), steps=5)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    scores = learner.evaluate(data.test, adapted)
learner.save(here / "my_spring.pt")
again = spmeta.MetaLearner.load(here / "my_spring.pt", family=family)
print(json.dumps({"history": history, "scores": {k: float(v) for k, v in scores.items()},
                  "warnings": [str(w.message) for w in caught], "modules": sorted(sys.modules)}))
"""


def run_quickstart(folder: Path) -> dict:
    """The quickstart, run by this interpreter without its site-packages (``-S``) on the copy in ``folder`` and
    a site folder of torch, numpy and scipy alone."""
    site = installed_only(["torch", "numpy", "scipy"], folder / "site")
    done = subprocess.run([sys.executable, "-S", "-c", textwrap.dedent(QUICKSTART), str(folder)], cwd=folder,
                          capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{folder}:{site}"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def copy_library(tmp_path: Path, without: tuple[str, ...] = ()) -> Path:
    shutil.copytree(LIB / "spmeta", tmp_path / "spmeta", ignore=shutil.ignore_patterns("__pycache__", *without))
    return tmp_path


def test_the_sandbox_holds_the_three_and_what_they_need(tmp_path):
    site = {p.name for p in installed_only(["torch", "numpy", "scipy"], tmp_path / "site").iterdir()}
    assert {"torch", "numpy", "scipy", "sympy"} <= site
    assert not {"matplotlib", "skimage", "tqdm", "IPython", "hypothesis", "pytest", "spmeta"} & site, site


@pytest.mark.parametrize("without", [(), ("book.py", "plotting.py", "bench")], ids=["whole", "core-only"])
def test_a_copied_library_runs_the_quickstart_with_torch_numpy_and_scipy_alone(tmp_path, without):
    result = run_quickstart(copy_library(tmp_path, without))
    assert len(result["history"]) == 5 and all(v == v for v in result["history"])  # finite, no NaN
    scores = result["scores"]
    assert {"eps_traj", "eps_field", "eps_field_family", "energy_drift"} <= set(scores), scores
    assert "ssim" not in scores and any("scikit-image" in w for w in result["warnings"]), result["warnings"]
    loaded = {m.split(".")[0] for m in result["modules"]}
    assert not {"matplotlib", "skimage", "tqdm", "IPython"} & loaded, loaded
