"""`benchmarks/paper_tables.py --quick` writes one complete record per cell, and grid
cells trained in one vmapped program equal cells trained alone."""

import json

import jax
import numpy as np
import pytest

import invjax
from benchmarks import paper_tables, render
from invjax.train import TrainConfig, make_train
from invjax.train.grid import make_grid_train, stack

FIELDS = ("setting", "lead_time", "underage_cost", "n_stores", "n_train_scenarios", "policy",
          "estimator", "test_cost", "optimum", "gap_pct", "steps", "best_dev_step", "seconds",
          "device", "seed")


def test_quick_tables_have_every_field(tmp_path):
    paper_tables.main(["--quick", "--only", "one_store_lost", "--out", str(tmp_path)])
    cells = json.loads((tmp_path / "paper_tables.json").read_text())["cells"]
    grid = paper_tables.QUICK_GRID["one_store_lost"]
    assert len(cells) == len(grid["lead_time"]) * len(grid["underage_cost"])
    for cell in cells:
        for field in FIELDS:
            assert cell[field] is not None, field
        assert cell["steps"] > 0 and cell["seconds"] > 0 and np.isfinite(cell["gap_pct"])
        assert 0 < cell["best_dev_step"] <= cell["steps"]
        expected = invjax.optimal.cost(invjax.settings.make(
            "one_store_lost", lead_time=cell["lead_time"], underage_cost=cell["underage_cost"]))
        assert cell["optimum"] == pytest.approx(expected)
        # 80 steps at the quick sizes learn (at lr 3e-3 some gaps stayed in the thousands of %).
        assert cell["gap_pct"] < 25.0, cell
    table = (tmp_path / "paper_tables.md").read_text()
    assert table.count("| vanilla | hdpo |") == len(cells)


def test_one_warehouse_cell_records_its_training_size():
    records = paper_tables.run_group("one_warehouse", "symmetry_aware", "hdpo", {"n_stores": 3},
                                     [{}], 16, True, 2, jax.random.key(0))
    (record,) = records
    assert record["n_train_scenarios"] == 16 and record["optimum"] is None
    assert np.isfinite(record["test_cost"]) and record["steps"] == 2


def test_grid_cells_equal_cells_trained_alone():
    problems = [invjax.settings.make("one_store_backlogged", lead_time=2, underage_cost=p)
                for p in (4.0, 19.0)]
    policy = invjax.policies.base_stock(problems[0])
    config = TrainConfig(learning_rate=0.5, batch_size=128, epochs=4, eval_every=2,
                         train=(256, 20, 5), dev=(256, 30, 10), test=(256, 50, 10))
    key = jax.random.key(0)
    k_train, k_test = jax.random.split(key)
    grid = make_grid_train(problems, policy, config)
    state, _ = jax.jit(grid.train)(k_train)
    for i, problem in enumerate(problems):
        alone, _ = jax.jit(make_train(problem, policy, config).train)(jax.random.clone(k_train))
        for a, b in zip(jax.tree.leaves(alone.best_params), jax.tree.leaves(state.best_params)):
            np.testing.assert_allclose(a, b[i], rtol=1e-5)
    # The levels differ: the cells really are different problems.
    levels = jax.tree.leaves(state.best_params)[0]
    assert not np.allclose(levels[0], levels[1])
    costs = grid.test_cost(state.best_params, k_test)
    assert costs.shape == (2,) and np.all(np.isfinite(costs))


def test_stack_rejects_different_structures():
    with pytest.raises(ValueError, match="structure"):
        stack([invjax.settings.make("one_store_lost", lead_time=1),
               invjax.settings.make("one_store_lost", lead_time=4, inventory_periods=5)])


def test_grid_restriction_replaces_an_axis_and_names_the_allowed():
    restrict = paper_tables.parse_grid(["n_stores=5,50", "n_train_scenarios=16"])
    assert restrict == {"n_stores": [5, 50], "n_train_scenarios": [16]}
    grid = paper_tables._grid("one_warehouse", False, restrict)
    assert grid["n_stores"] == [5, 50] and grid["n_train_scenarios"] == [16]
    with pytest.raises(ValueError, match="no axis 'n_store'; allowed"):
        paper_tables._grid("one_warehouse", False, {"n_store": [5]})
    with pytest.raises(ValueError, match="expected AXIS=V1,V2"):
        paper_tables.parse_grid(["n_stores"])


def _record(**fields):
    base = {"setting": "one_warehouse", "lead_time": 2, "underage_cost": 9.0, "n_stores": 3,
            "n_train_scenarios": 16, "policy": "vanilla", "estimator": "hdpo",
            "test_cost": 5.0, "optimum": None, "optimum_is_bound": False, "gap_pct": None,
            "steps": 10, "seconds": 1.0, "device": "cpu"}
    return {**base, **fields}


def test_merge_joins_parts_and_summaries_compare_within_a_row(tmp_path):
    meta = {"quick": False, "epochs_override": None, "steps": 10, "overrides": [],
            "grid": {}, "device": "cpu", "jax": jax.__version__, "note": ""}
    parts = {
        "a": [_record(policy="symmetry_aware", test_cost=4.0),
              _record(policy="symmetry_aware", n_stores=50, test_cost=6.0)],
        "b": [_record(test_cost=5.0), _record(n_stores=50, test_cost=6.6)],
        "c": [_record(setting="one_store_lost", lead_time=1, underage_cost=4.0,
                      estimator=e, test_cost=c, optimum=4.0, gap_pct=100 * (c / 4 - 1))
              for e, c in (("hdpo", 4.04), ("reinforce", 4.02))],
    }
    for stem, cells in parts.items():
        (tmp_path / f"{stem}.json").write_text(json.dumps({"meta": meta, "cells": cells}))
    paper_tables.main(["--out", str(tmp_path), "--merge", "a,b,c", "--name", "all"])
    merged = json.loads((tmp_path / "all.json").read_text())["cells"]
    assert merged == parts["a"] + parts["b"] + parts["c"]
    table = (tmp_path / "all.md").read_text()
    assert "| 3 | 4.000 (+0.0%) | 5.000 (+25.0%) |" in table
    assert "| 50 | 6.000 (+0.0%) | 6.600 (+10.0%) |" in table
    assert "| 1 | 4 | +1.00 | +0.50 |" in table and "hdpo: 0, reinforce: 1 of 1" in table


def test_merged_grid_is_one_product_only_where_the_parts_fill_it():
    a, b = {"n_stores": [3], "lead_time": [6]}, {"n_stores": [5], "lead_time": [6]}
    assert paper_tables.merged_grid([a, b]) == {"n_stores": [3, 5], "lead_time": [6]}
    diagonal = [a, {"n_stores": [5], "lead_time": [2]}]
    assert paper_tables.merged_grid(diagonal) == diagonal
    assert paper_tables.merged_grid([a, {}]) == [a, {}]
    assert paper_tables.merged_grid([{}, {}]) == {}
    reordered = {"lead_time": [6], "n_stores": [5]}
    assert paper_tables.merged_grid([a, reordered]) == {"n_stores": [3, 5], "lead_time": [6]}
    # A part merged before counts as its parts; a part run again (another seed) once.
    assert paper_tables.merged_grid([diagonal, a]) == diagonal
    rest = [b, {"n_stores": [3], "lead_time": [2]}]
    assert paper_tables.merged_grid([diagonal, *rest]) == {"n_stores": [3, 5], "lead_time": [2, 6]}
    assert paper_tables.merged_grid([a, a]) == a
    assert paper_tables.merged_grid(["{'n_stores': [3]} + {}", a]) == ["{'n_stores': [3]} + {}", a]


def test_merge_of_a_missing_part_names_it(tmp_path, capsys):
    with pytest.raises(SystemExit):
        paper_tables.main(["--out", str(tmp_path), "--merge", "a,b", "--name", "all"])
    assert "--merge" in capsys.readouterr().err


def test_cells_run_with_several_seeds_get_a_spread_line(tmp_path):
    meta = {"quick": False, "epochs_override": None, "steps": 10, "overrides": [],
            "grid": {}, "device": "cpu", "jax": jax.__version__, "note": ""}
    cell = dict(setting="transshipment", lead_time=6, correlation=0.5, optimum=4.0,
                optimum_is_bound=True)
    parts = {"s0": [_record(**cell, test_cost=4.04, gap_pct=1.0)],  # no seed: ran as seed 0
             "s1": [_record(**cell, test_cost=4.02, gap_pct=0.5, seed=1)],
             "s2": [_record(**cell, test_cost=4.06, gap_pct=1.5, seed=2)]}
    for stem, cells in parts.items():
        (tmp_path / f"{stem}.json").write_text(json.dumps({"meta": meta, "cells": cells}))
    paper_tables.main(["--out", str(tmp_path), "--merge", "s2,s0,s1", "--name", "all"])
    table = (tmp_path / "all.md").read_text()
    assert "seeds: [0, 1, 2]" in table
    assert ("| vanilla | hdpo | 3 | 6 | 9 | 0.5 | 16 | +1.00 (0), +0.50 (1), +1.50 (2) "
            "| +1.00 | 1.00 |") in table
    rows = [line for line in table.splitlines() if line.startswith("| vanilla | hdpo | 3 | 6")]
    assert [row.rsplit("|", 2)[1].strip() for row in rows[1:]] == ["0", "1", "2"]
    # A one_warehouse summary shows the mean over seeds.
    ow = [_record(test_cost=c, seed=s) for s, c in enumerate((5.0, 6.0))]
    assert "| 3 | 5.500 (+0.0%) |" in render.markdown(ow)


def test_best_dev_step_is_where_the_first_lowest_dev_cost_was_seen():
    config = TrainConfig(epochs=12, eval_every=5, batch_size=128, train=(512, 20, 5))
    # evaluations after epochs 5, 10 and 12 (the rest); 4 steps per epoch
    dev = np.array([[3.0, 2.0, 2.0], [1.0, np.nan, np.nan], [np.nan, np.nan, np.nan],
                    [3.0, 2.0, 1.0]])
    assert paper_tables.best_dev_steps(dev, config) == [40, 20, None, 48]


def test_row_key_depends_on_the_seed_and_the_row_only():
    data = lambda key: jax.random.key_data(key).tolist()  # noqa: E731
    key = paper_tables.row_key(0, "transshipment", {"n_stores": 3, "correlation": 0})
    assert data(key) == data(paper_tables.row_key(0, "transshipment",
                                                  {"correlation": 0.0, "n_stores": 3.0}))
    others = [paper_tables.row_key(1, "transshipment", {"n_stores": 3, "correlation": 0}),
              paper_tables.row_key(0, "transshipment", {"n_stores": 5, "correlation": 0}),
              paper_tables.row_key(0, "serial", {"n_stores": 3, "correlation": 0})]
    assert all(data(other) != data(key) for other in others)
    with pytest.raises(ValueError, match="keys: 'order'; allowed"):
        paper_tables.run(["serial"], keys="order")


def test_a_cell_run_alone_repeats_its_number_and_records_its_seed():
    def cost(lead_times, keys):
        records = paper_tables.run(["one_store_lost"], quick=True, epochs=1, seed=3,
                                   log=lambda _: None, keys=keys,
                                   restrict={"lead_time": lead_times, "underage_cost": [9.0]})
        assert all(r["seed"] == 3 for r in records)
        return [r["test_cost"] for r in records if r["lead_time"] == 2][0]

    assert cost([1, 2], "row") == cost([2], "row")
    # The keys of tables before row keys depended on the groups run before.
    assert cost([1, 2], "sequential") != cost([2], "sequential")
