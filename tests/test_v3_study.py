"""`benchmarks/v3_study.py`: each cell is the shipped configuration resized to the cell,
and a run writes complete records and a table with the authors' figures."""

import json
import pathlib
import re

import jax
import numpy as np
import pytest

import invjax
from benchmarks import v3_study
from invjax.train import run_config
from invjax.train.horizons import dev_test_warnings


def test_cell_config_resizes_the_shipped_config():
    config = v3_study.cell_config("many_warehouses", 3, "gnn", 128, 50, (256, 200, 50))
    problem, _, trainer = run_config.build(config)
    network = problem.structure.network
    assert (network.count("warehouse"), network.count("store")) == (3, 20)
    shipped = run_config.for_setting("many_warehouses", "gnn")["trainer"]
    assert trainer.learning_rate == shipped["learning_rate"] and trainer.clip_norm == 1.0
    assert trainer.batch_size == 128 and trainer.epochs == 50 and trainer.patience is None
    assert trainer.train.n == trainer.dev.n == 128 and trainer.test.n == 256
    # The safe rule may lengthen the test warm-up; the counted periods stay.
    assert trainer.test.periods - trainer.test.ignore_periods == 150

    config = v3_study.cell_config("transshipment", 5, "vanilla", 8192, 100, (256, 200, 50))
    problem, _, trainer = run_config.build(config)
    p = problem.params
    assert problem.structure.n_stores == 5 and problem.structure.demand.correlation == 0.5
    assert np.all(np.asarray(p.lead_time) == 4) and np.all(np.asarray(p.underage_cost) == 9.0)
    assert trainer.batch_size == 1024 and trainer.epochs == 13  # 8 steps per epoch


def test_set_overrides_trainer_fields_and_rejects_what_is_not_one():
    config = v3_study.cell_config("serial_chain", 3, "gnn", 128, 50, (256, 200, 50),
                                  v3_study.trainer_overrides(["backprop_periods=25"]))
    assert run_config.build(config)[2].backprop_periods == 25
    for bad, words in (("lr=0.01", "not a trainer field"),
                       ("backprop_periods=soon", "Python literal")):
        with pytest.raises(ValueError, match=words):
            v3_study.trainer_overrides([bad])
        with pytest.raises(SystemExit):
            v3_study.main(["--quick", "--set", bad])
    with pytest.raises(SystemExit):  # a trainer field's bad value, before any cell trains
        v3_study.main(["--quick", "--set", "backprop_periods=0"])
    # policy.OPTION sets a policy option; the policy factory checks it, before any cell
    config = v3_study.cell_config("transshipment", 3, "gnn", 128, 10, (64, 100, 20),
                                  v3_study.trainer_overrides(["policy.rounds=2"]))
    assert config["policy"]["rounds"] == 2 and config["policy"]["name"] == "gnn"
    assert not any(k.startswith("policy") for k in config["trainer"])
    for bad in ("policy.colour=1", "policy.rounds=0", "policy.=1"):
        with pytest.raises(SystemExit):
            v3_study.main(["--quick", "--only", "transshipment", "--policies", "gnn",
                           "--set", bad])


@pytest.mark.parametrize("seed", ["-1", str(2**32), "one"])
def test_a_bad_seed_is_named_before_any_cell_trains(seed, capsys):
    with pytest.raises(SystemExit):
        v3_study.main(["--quick", "--seed", seed])
    assert "--seed" in capsys.readouterr().err


def test_cells_have_their_own_keys():
    data = [jax.random.key_data(v3_study.cell_key("serial_chain", 3, policy, n, seed))
            for policy, n, seed in (("gnn", 128, 0), ("gnn", 1024, 0), ("vanilla", 128, 0),
                                    ("gnn", 128, 1))]
    assert len({tuple(np.asarray(d).ravel()) for d in data}) == 4
    again = jax.random.key_data(v3_study.cell_key("serial_chain", 3, "gnn", 128))
    np.testing.assert_array_equal(again, data[0])


def test_quick_run_writes_records_and_table(tmp_path):
    v3_study.main(["--quick", "--only", "independent_stores", "--policies", "gnn", "vanilla",
                   "--out", str(tmp_path)])
    records = json.loads((tmp_path / "v3_study.json").read_text())
    assert {r["policy"] for r in records} == {"gnn", "vanilla"}
    for r in records:
        assert r["size"] == 3 and r["n_train_scenarios"] == 128 and r["steps"] == 10
        assert np.isfinite(r["test_cost"]) and r["reference_kind"] == "optimum"
        assert r["reference"] == pytest.approx(invjax.optimal.cost(
            invjax.settings.make("independent_stores", n_stores=3)))
        assert r["overrides"] == {} and r["backprop_periods"] is None
        # the dev cost the test is checked against, and the check's verdict
        assert np.isfinite(r["best_dev"])
        assert r["warnings"] == dev_test_warnings(r["test_cost"], r["best_dev"])
    table = (tmp_path / "v3_study.md").read_text()
    assert "## independent_stores" in table and "Authors: over 6.53" in table
    # Another seed is a cell, and a column, of its own.
    v3_study.main(["--quick", "--only", "independent_stores", "--policies", "vanilla",
                   "--seed", "1", "--out", str(tmp_path)])
    cost = {(r["policy"], r["seed"]): r["test_cost"]
            for r in json.loads((tmp_path / "v3_study.json").read_text())}
    assert sorted(cost) == [("gnn", 0), ("vanilla", 0), ("vanilla", 1)]
    assert cost["vanilla", 0] != cost["vanilla", 1]  # another key: other data and weights
    assert "| gnn @ 128 | vanilla @ 128 | vanilla @ 128 seed 1 |" in (
        tmp_path / "v3_study.md").read_text()


def test_a_rerun_cell_replaces_its_record(tmp_path):
    path = tmp_path / "cells.json"
    cell = {"family": "serial_chain", "size": 3, "policy": "gnn", "n_train_scenarios": 128}
    v3_study.save_record(path, {**cell, "test_cost": 1.0}, v3_study.RECORD_KEY)  # no seed: 0
    v3_study.save_record(path, {**cell, "seed": 1, "test_cost": 2.0}, v3_study.RECORD_KEY)
    records = v3_study.save_record(path, {**cell, "seed": 0, "test_cost": 3.0},
                                   v3_study.RECORD_KEY)
    assert sorted((r.get("seed"), r["test_cost"]) for r in records) == [(0, 3.0), (1, 2.0)]
    assert json.loads(path.read_text()) == records


def test_table_marks_a_diverged_cell():
    record = {"family": "serial_chain", "size": 4, "policy": "gnn", "n_train_scenarios": 128,
              "test_cost": 30.0, "reference": 9.0, "reference_kind": "optimum",
              "gap_pct": 233.3, "steps": 658, "diverged": True, "test": [8, 10, 5],
              "device": "cpu"}
    table = v3_study.markdown([record, {**record, "size": 3, "diverged": False}])
    assert "diverged at step 658" in table and table.count("diverged") == 1


def test_table_marks_a_cell_whose_test_departs_from_its_dev_cost():
    record = {"family": "independent_stores", "size": 50, "policy": "vanilla",
              "n_train_scenarios": 128, "test_cost": 1.5e7, "best_dev": 8.5, "reference": 6.53,
              "reference_kind": "optimum", "gap_pct": 100 * (1.5e7 / 6.53 - 1), "steps": 1000,
              "diverged": False, "test": [8, 10, 5], "device": "cpu"}
    record["warnings"] = dev_test_warnings(record["test_cost"], record["best_dev"])
    assert record["warnings"]
    steady = {**record, "size": 3, "test_cost": 8.6, "gap_pct": 31.7,
              "warnings": dev_test_warnings(8.6, 8.5)}
    assert steady["warnings"] == []
    table = v3_study.markdown([record, steady, {**steady, "size": 10, "best_dev": None}])
    assert "| 50 | 1.5e+07 (+2.3e+08% optimum; dev 8.500: test +1.76e+08%) |" in table
    assert "| 3 | 8.600 (+31.70% optimum) |" in table
    assert "| 10 | 8.600 (+31.70% optimum) |" in table
    assert "overrides" not in table


def test_table_names_the_cells_trained_with_overrides():
    record = {"family": "transshipment", "size": 10, "policy": "gnn", "n_train_scenarios": 128,
              "test_cost": 9.0, "reference": 8.9, "reference_kind": "bound", "gap_pct": 1.1,
              "steps": 1000, "test": [8, 10, 5], "device": "cpu",
              "overrides": {"train_start_scale": 4}}
    table = v3_study.markdown([record, {**record, "size": 3}, {**record, "seed": 1},
                               {**record, "size": 20, "overrides": None}])
    assert table.rstrip().endswith("Cells trained with `--set` overrides: transshipment gnn "
                                   "at size 3, 10: train_start_scale = 4.")  # 10 named once
    assert "| gnn @ 128 | gnn @ 128 seed 1 |" in table


def test_dev_curve_prints_the_cell_curve(capsys):
    from benchmarks import dev_curve

    dev_curve.main(["independent_stores", "3", "vanilla", "--steps", "4", "--every", "2",
                    "--set", "learning_rate=0.01"])
    lines = capsys.readouterr().out.splitlines()
    assert "'learning_rate': 0.01" in lines[0]
    assert [line.split()[1] for line in lines[1:]] == ["2", "4"]
    for bad in ("lr=0.01", "learning_rate=fast"):
        with pytest.raises(SystemExit):
            dev_curve.main(["independent_stores", "3", "vanilla", "--set", bad])


def test_the_readmes_count_the_committed_1024_cells():
    """The cell counts the READMEs state are the committed records' (they went stale once)."""
    root = pathlib.Path(__file__).resolve().parents[1]
    records = json.loads((root / "benchmarks/results/v3_study.json").read_text())
    cell = lambda r: tuple(r[k] for k in v3_study.RECORD_KEY[:3])  # noqa: E731
    # The 1,024 column mirrors the 128 one, which left out the grid's n = 5.
    column = {cell(r) for r in records if r["n_train_scenarios"] == 128}
    done = {cell(r) for r in records if r["n_train_scenarios"] == 1024}
    readme = (root / "README.md").read_text()
    assert re.search(r"1,024-scenario column, (\d+) of its (\d+) cells", readme).groups() \
        == (str(len(done)), str(len(column)))
    left = re.search(r"That leaves (\d+) of the column's (\d+) cells",
                     (root / "benchmarks/README.md").read_text()).groups()
    assert left == (str(len(column - done)), str(len(column)))
