"""`benchmarks/cost_by_period.py`: the windows tile the horizon, each is the mean of its
periods, and together they average to the rollout's own mean cost."""

import json

import jax
import numpy as np
import pytest

import invjax
from benchmarks import cost_by_period
from invjax.scenarios import sample


def test_window_edges():
    assert cost_by_period.window_edges(2000) == [0, 50, 100, 200, 500, 1000, 2000]
    assert cost_by_period.window_edges(5000) == [0, 50, 100, 200, 500, 1000, 2000, 5000]
    assert cost_by_period.window_edges(30) == [0, 30]


def test_window_costs_against_a_loop():
    x = np.random.default_rng(0).exponential(size=(3, 120))
    got = cost_by_period.window_costs(x, [0, 50, 100, 120])
    for w in got:
        a, b = w["periods"]
        assert w["cost"] == pytest.approx(sum(x[i, t] for i in range(3) for t in range(a, b))
                                          / (3 * (b - a)))


def test_windows_average_to_the_rollouts_mean_cost(tmp_path):
    dev = [16, 80, 40]
    cost_by_period.main(["independent_stores", "3", "vanilla", "--steps", "2",
                         "--set", f"dev={dev}", "learning_rate=0.05",
                         "--test", "16", "120", "--out", str(tmp_path), "--name", "cell"])
    record = json.loads((tmp_path / "cell.json").read_text())
    assert record["overrides"] == {"dev": dev, "learning_rate": 0.05} and record["dev"] == dev
    assert [w["periods"] for w in record["windows"]] == [[0, 50], [50, 100], [100, 120]]
    quantiles = list(record["settled_quantiles"].values())
    assert quantiles == sorted(quantiles) and np.isfinite(record["best_dev"])
    worst = record["worst"]
    assert worst["settled_cost"] == pytest.approx(quantiles[-1])
    assert len(worst["last_periods_cost"]) == cost_by_period.LAST
    assert list(worst["last_periods_inflow"]) == ["stores"]  # independent stores: no others
    assert 0 <= record["share_above_twice_median"] <= 1
    table = (tmp_path / "cell.md").read_text()
    assert "| 100-120 |" in table and "with dev = [16, 80, 40], learning_rate = 0.05" in table
    # The same cell (same key and overrides, so the same parameters) through simulate.
    problem, policy, params, _, _, k_test = cost_by_period.trained_cell(
        "independent_stores", 3, "vanilla", 128, 2, {"dev": dev, "learning_rate": 0.05})
    data = sample(problem, jax.random.fold_in(k_test, 0), 16, 120, 0)
    mean = invjax.simulate(problem, policy, params, data, ignore_periods=0,
                           record=False).mean_cost
    windows = [w["cost"] for w in record["windows"]]
    assert np.dot([50, 50, 20], windows) / 120 == pytest.approx(float(mean), rel=1e-5)
    flows = invjax.simulate(problem, policy, params, data, ignore_periods=0).actions.stores
    np.testing.assert_allclose(worst["last_periods_inflow"]["stores"],
                               np.asarray(flows)[worst["scenario"], -9:].sum(-1), atol=0.01)


def test_bad_arguments_are_rejected():
    for argv in (["independent_stores", "0", "vanilla"],
                 ["independent_stores", "3", "vanilla", "--test", "8", "2"],
                 ["independent_stores", "3", "vanilla", "--set", "lr=0.01"],
                 ["independent_stores", "3", "vanilla", "--set", "dev=[16, 80]"]):
        with pytest.raises(SystemExit):
            cost_by_period.main(argv)
