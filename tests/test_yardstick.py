"""`benchmarks/yardstick.py`: the heuristic trains on the v3 cell's own network from the
chosen start, and the table sets it beside the GNN's cell."""

import json

import jax
import numpy as np
import pytest

from benchmarks import v3_study, yardstick
from benchmarks.optima import transshipment_relaxation
from invjax.train import run_config


def test_cell_is_the_v3_network_with_the_shipped_heuristic():
    ours = run_config.build(yardstick.cell_config(5, (64, 100, 20)))
    v3 = run_config.build(v3_study.cell_config("transshipment", 5, "gnn", 128, 10,
                                               (64, 100, 20)))
    assert ours[0].structure == v3[0].structure
    for a, b in zip(jax.tree.leaves(ours[0].params), jax.tree.leaves(v3[0].params)):
        np.testing.assert_array_equal(a, b)
    shipped = run_config.for_setting("transshipment", "base_stock_allocation")["trainer"]
    assert ours[2].learning_rate == shipped["learning_rate"]
    assert ours[2].epochs == shipped["epochs"] and tuple(ours[2].test) == (64, 100, 20)


def test_relaxation_start_trains_from_the_relaxation_levels(tmp_path):
    args = ["--sizes", "3", "--test", "64", "100", "20", "--out", str(tmp_path)]
    yardstick.main([*args, "--epochs", "1", "--name", "y"])
    records = {r["start"]: r for r in json.loads((tmp_path / "y.json").read_text())}
    assert set(records) == set(yardstick.STARTS)
    for r in records.values():
        assert r["size"] == 3 and np.isfinite(r["test_cost"]) and r["steps"] == 32
        assert r["gap_pct"] == pytest.approx(100 * (r["test_cost"] / r["bound"] - 1))
    # One epoch at lr 0.5 moves the levels a little: the relaxation start, already near
    # the bound, stays far cheaper than levels of 10 units (the shipped start).
    assert records["relaxation"]["test_cost"] < records["shipped"]["test_cost"]
    problem = run_config.build(yardstick.cell_config(3, (64, 100, 20)))[0]
    levels = transshipment_relaxation(problem)[1]
    assert float(levels["warehouse_level"][0]) > 10 * 3  # not the shipped start

    table = yardstick.markdown(list(records.values()), {3: 1.1 * min(
        r["test_cost"] for r in records.values())})
    assert "| 3 |" in table and "+10.00%" in table
    assert "| 3 |" in yardstick.markdown(list(records.values()), {})  # no GNN cell
    for bad in (["--epochs", "0"], ["--sizes", "7"], ["--test", "0", "10", "2"]):
        with pytest.raises(SystemExit):
            yardstick.main(bad)
