import pytest

from spmeta import config


@pytest.fixture(autouse=True)
def _reset():
    yield
    config.set_scale(None)


@pytest.mark.parametrize("value, expected", [("1", "quick"), ("yes", "quick"), ("true", "quick"),
                                             ("", "book"), ("0", "book"), ("false", "book"), ("No", "book")])
def test_environment_selects_scale(monkeypatch, value, expected):
    monkeypatch.setenv("SPMETA_QUICK", value)
    assert config.get_scale().name == expected


def test_unset_environment_is_book(monkeypatch):
    monkeypatch.delenv("SPMETA_QUICK", raising=False)
    assert config.get_scale().name == "book" and not config.is_quick()


def test_setter_overrides_environment(monkeypatch):
    monkeypatch.setenv("SPMETA_QUICK", "1")
    assert config.set_scale("paper").name == "paper"
    assert config.get_scale().n_train == 70 and config.get_scale().n_test == 10
    config.set_scale(None)
    assert config.get_scale().name == "quick"


def test_unknown_scale_lists_valid_ones():
    with pytest.raises(ValueError, match="book.*paper.*quick"):
        config.set_scale("huge")


def test_overrides_and_ordering():
    assert config.get_scale(epochs=3).epochs == 3
    quick, book, paper = (config.SCALES[k] for k in ("quick", "book", "paper"))
    assert quick.epochs < book.epochs <= paper.epochs
    assert paper.n_traj == 10 and paper.shots == (1, 5, 10, 30, 100, 300)
