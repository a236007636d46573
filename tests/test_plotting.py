import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import spmeta  # noqa: E402
from spmeta import plotting  # noqa: E402


def test_book_style_is_white_and_colour_blind_safe():
    plotting.use_book_style()
    rc = matplotlib.rcParams
    assert rc["figure.facecolor"] == "white" and rc["axes.facecolor"] == "white"
    assert not rc["savefig.transparent"]
    cycle = [c.upper() for c in rc["axes.prop_cycle"].by_key()["color"]]
    assert set(cycle) <= {c.upper() for c in plotting.OKABE_ITO.values()}
    assert "#F0E442" not in cycle  # yellow is too pale for lines


def test_every_method_has_a_distinct_style():
    styles = [(c, str(ls), m) for c, ls, m in plotting.METHOD_STYLES.values()]
    assert len(set(styles)) == len(styles)
    assert plotting.METHOD_COLORS["truth"] == "#000000"
    with pytest.raises(ValueError, match="known methods"):
        plotting.method_style("nonsense")


def test_phase_portraits_and_energy_plot():
    family = spmeta.get_family("mass_spring")
    mus = family.sample_params(3, seed=0)
    X = torch.stack([family.trajectories(mu, family.sample_initial_conditions(2, mu)) for mu in mus])
    fig = plotting.phase_portraits(family, mus, X)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 3
    assert axes[0].get_xlim()[1] == pytest.approx(1.15 * X[..., 0].abs().max().item())
    plt.close(fig)

    fig, ax = plt.subplots()
    error = torch.tensor([0.0, 1e-3, 5e-4, 2e-3])
    plotting.plot_energy_error(ax, torch.arange(4.0), error, "leapfrog", log_time=True)
    line = ax.get_lines()[0]
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
    assert list(line.get_ydata()) == pytest.approx([1e-3, 1e-3, 2e-3])  # running maximum, first sample dropped
    plt.close(fig)


def test_seed_dots_show_every_seed_the_mean_and_the_papers_values():
    fig, ax = plt.subplots()
    plotting.plot_seed_dots(ax, {"rank_one": [0.01, 0.02, 0.03], "maml": [0.5, float("nan")], "anil": []},
                            paper={"rank_one": [0.049, 0.02]}, failed=["anil"])
    sizes = [len(c.get_offsets()) for c in ax.collections]  # rank_one's seeds, its two stars, maml's finite seed
    assert sizes == [3, 1, 1, 1], sizes
    assert ax.get_lines()[0].get_ydata()[0] == pytest.approx(0.02)  # the mean bar
    assert [t.get_text() for t in ax.texts] == ["failed"] and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["rank_one", "maml", "anil"]
    plt.close(fig)
