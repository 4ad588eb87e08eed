"""`benchmarks/gnn_initial_flows.py`: its desired flows are the policy's before
allocation, a shut edge reads as shut, and a rerun replaces its rows."""

import json

import jax
import numpy as np
import pytest

from benchmarks import gnn_initial_flows as gif
from invjax.network import KINDS
from invjax.policies.gnn import demand_scale
from invjax.policies.graph import graph


@pytest.fixture(scope="module")
def chain():
    problem, policy, trainer, options = gif._cell("serial_chain", 3, 8, None)
    obs = gif.start_state(trainer.data(jax.random.key(0))["train"])
    return problem, policy, options, obs, policy.init(jax.random.key(1))


def _flows_in_graph_order(action):
    fields = {"store": action.stores, "warehouse": action.warehouses,
              "echelon": action.echelons}
    return np.concatenate([np.asarray(fields[k]) for k in KINDS if fields[k] is not None], -1)


def test_desired_flows_are_the_policys_before_allocation(chain):
    problem, policy, options, obs, params = chain
    network = problem.structure.network
    desired = np.asarray(gif.desired_flows(network, options, params, obs))
    desired = desired * np.asarray(demand_scale(obs))[:, None]
    flows = _flows_in_graph_order(policy.apply(params, obs))
    from_supplier = graph(network).source[:graph(network).n_supply] == 0
    # At initialisation the supplier's orders are far under their cap: shipped as desired.
    np.testing.assert_allclose(flows[:, from_supplier], desired[:, from_supplier], rtol=1e-5)
    assert np.all(flows <= desired * (1 + 1e-5))  # the others are scaled down to on-hand


def test_a_shut_output_reads_as_shut(chain):
    problem, _, options, obs, params = chain
    network = problem.structure.network
    assert gif.least_open(network, options, params, obs) > gif.SHUT
    bias = params["params"]["output"]["layers_2"]["bias"]
    shut = jax.tree.map(lambda x: x, params)
    shut["params"]["output"]["layers_2"]["bias"] = bias - 30.0
    assert gif.least_open(network, options, shut, obs) < gif.SHUT


def test_main_writes_rows_and_a_rerun_replaces_them(tmp_path):
    record = {"family": "serial_chain", "size": 3, "policy": "gnn", "n_train_scenarios": 8,
              "seed": 0}
    (tmp_path / "v3_study.json").write_text(json.dumps([record]))
    argv = ["--only", "serial_chain", "--sizes", "3", "--keys", "2", "--scenarios", "4",
            "--out", str(tmp_path)]
    gif.main(argv)
    gif.main(argv + ["--rounds", "1"])
    rows = json.loads((tmp_path / "gnn_initial_flows.json").read_text())
    assert sorted((r["rounds"], r["default_rounds"]) for r in rows) == [(1, False), (3, True)]
    own = [r for r in rows if r["default_rounds"]][0]["committed_least_open"]
    assert list(own) == ["8 seed 0"] and own["8 seed 0"] > 0
    markdown = (tmp_path / "gnn_initial_flows.md").read_text()
    assert "| serial_chain | 3 | 1 (set) |" in markdown and "8 seed 0:" in markdown


def test_bad_counts_are_refused():
    with pytest.raises(SystemExit):
        gif.main(["--keys", "0"])
