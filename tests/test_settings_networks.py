"""The network settings (SPEC §7), users' networks from YAML, and settings' bad input."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import invjax
from invjax import optimal, settings
from invjax.cli import main as cli_main
from invjax.settings.options import SCHEMAS

EXAMPLE = "examples/my_network.yaml"

# SPEC §7: store lead time from each warehouse of the authors' 2 x 10 network, 0 = no edge.
SPEC_W0 = [0, 0, 6, 6, 6, 0, 6, 5, 6, 0]
SPEC_W1 = [2, 1, 2, 2, 1, 2, 0, 2, 2, 2]


def leaves_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype and np.array_equal(x, y), (x, y)


def lead_time_matrix(problem):
    """[warehouse][store] lead time of each warehouse -> store edge, 0 where none."""
    net = problem.structure.network
    out = np.zeros((net.count("warehouse"), net.count("store")), int)
    for j, edge in enumerate(net.edges_into("store")):
        _, w = net.index(edge.source)
        _, i = net.index(edge.destination)
        out[w, i] = int(problem.params.lead_time[j])
    return out


# --------------------------------------------------------------------------------------
# many_warehouses


def test_many_warehouses_is_the_authors_network():
    problem = settings.make("many_warehouses")
    s, p = problem.structure, problem.params
    assert s.network.topology == "many_warehouses"
    np.testing.assert_array_equal(lead_time_matrix(problem), [SPEC_W0, SPEC_W1])
    assert [e.source for e in s.network.edges_into("warehouse")] == ["supplier"] * 2
    np.testing.assert_array_equal(p.warehouse_lead_time, [3, 3])
    np.testing.assert_allclose(p.warehouse_procurement_cost, [0.5, 1.5])
    np.testing.assert_allclose(p.warehouse_holding_cost, [0.3, 0.4])
    assert s.lost_demand and not s.maximize_profit
    assert (s.demand.distribution, s.demand.clip, s.demand.correlation) == ("normal", True, 0.5)
    assert s.store_slots == 6  # max(inventory_periods 3, longest store lead time 6)
    # Store parameters: drawn as one_warehouse draws them from the same seed.
    ref = settings.make("one_warehouse", n_stores=10, seed=0).params
    for field in ("demand_mean", "demand_std", "holding_cost", "underage_cost"):
        np.testing.assert_array_equal(getattr(p, field), getattr(ref, field))
    assert optimal.known(problem) is None


def generated_rule(n_warehouses, n_stores, seed):
    """`networks.generated_lead_times`'s documented rule, written again from its doc."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n_warehouses, n_stores), int)
    for i in range(n_stores):
        served = [i % n_warehouses]
        if rng.random() < 0.7:
            served.append([w for w in range(n_warehouses) if w != served[0]][
                rng.integers(n_warehouses - 1)])
        for w in served:
            out[w, i] = rng.integers(1, 7)
    return out


@pytest.mark.parametrize("n_warehouses,n_stores", [(3, 20), (4, 30), (5, 40), (6, 50)])
def test_generated_networks_follow_their_rule(n_warehouses, n_stores):
    problem = settings.make("many_warehouses", n_warehouses=n_warehouses)
    assert problem.structure.n_stores == n_stores  # the default size for n_warehouses
    assert settings.make("many_warehouses", n_warehouses=n_warehouses,
                         n_stores=n_stores).structure == problem.structure
    matrix = lead_time_matrix(problem)
    assert matrix.shape == (n_warehouses, n_stores)
    assert problem.structure.network.topology == "many_warehouses"
    served = (matrix > 0).sum(0)
    assert served.min() >= 1 and served.max() <= 2
    assert matrix[matrix > 0].min() >= 1 and matrix.max() <= 6
    assert all(matrix[i % n_warehouses, i] > 0 for i in range(n_stores))
    assert (matrix > 0).sum(1).min() >= 1  # every warehouse serves a store
    assert 0.4 < (served == 2).mean() < 0.95
    np.testing.assert_array_equal(matrix, generated_rule(n_warehouses, n_stores, 0))
    np.testing.assert_allclose(problem.params.warehouse_holding_cost,
                               np.linspace(0.3, 0.4, n_warehouses), rtol=1e-6)
    # Reproducible from network_seed; the store parameters' seed leaves it alone.
    again = settings.make("many_warehouses", n_warehouses=n_warehouses, n_stores=n_stores,
                          seed=7)
    assert again.structure.network == problem.structure.network
    other = settings.make("many_warehouses", n_warehouses=n_warehouses, n_stores=n_stores,
                          network_seed=1)
    assert not np.array_equal(lead_time_matrix(other), matrix)
    np.testing.assert_array_equal(lead_time_matrix(other),
                                  generated_rule(n_warehouses, n_stores, 1))


def test_many_warehouses_simulates_with_costs_on_supplier_edges():
    """One period by hand: edge cost c_w * flow charged on the supplier -> warehouse edge."""
    problem = settings.make("many_warehouses")
    s = problem.structure
    sc = invjax.scenarios.sample(problem, jax.random.key(0), 2, 3, 0)
    env = invjax.Env(problem)
    state = env.reset(sc)
    zero = lambda k: np.zeros((2, len(s.network.edges_into(k))), np.float32)  # noqa: E731
    flows = zero("warehouse")
    flows[:, 1] = 10.0
    base = env.step(state, invjax.Action(zero("store"), zero("warehouse"), None),
                    sc.demand[:, 0])[1]
    costly = env.step(state, invjax.Action(zero("store"), flows, None), sc.demand[:, 0])[1]
    np.testing.assert_allclose(np.asarray(costly - base), 15.0, rtol=1e-6)


# --------------------------------------------------------------------------------------
# serial chains and independent stores


def test_four_stage_chain_is_the_serial_setting():
    chain, serial = settings.make("serial_chain", n_stages=4), settings.make("serial")
    assert chain.structure.network == serial.structure.network
    leaves_equal(chain.params, serial.params)


def test_chain_default_rule_five_stages():
    p = settings.make("serial_chain", n_stages=5, lead_time=1).params
    lead_times = np.concatenate([p.echelon_lead_time, p.warehouse_lead_time, p.lead_time])
    holding = np.concatenate([p.echelon_holding_cost, p.warehouse_holding_cost,
                              p.holding_cost])
    np.testing.assert_array_equal(lead_times, [3, 2, 4, 3, 1])
    np.testing.assert_allclose(holding, [0.05, 0.1, 0.2, 0.5, 1.0], rtol=1e-6)


@pytest.mark.parametrize("n_stages", [3, 4, 5, 6, 7])
def test_chains_have_clark_scarf_optima(n_stages):
    problem = settings.make("serial_chain", n_stages=n_stages)
    known = optimal.known(problem)
    assert problem.structure.network.topology == "serial"
    assert known.method == optimal.CLARK_SCARF and not known.is_bound
    assert known.cost == optimal.cost(problem)
    # The optimal cost rises with the store's penalty.
    higher_p = settings.make("serial_chain", n_stages=n_stages, underage_cost=19.0)
    assert optimal.cost(higher_p) > known.cost


def test_independent_stores_optimum_is_6_53_per_store():
    for n in (3, 50):
        problem = settings.make("independent_stores", n_stores=n)
        known = optimal.known(problem)
        assert known.method == optimal.LOST_SALES_DP and not known.is_bound
        assert known.cost == pytest.approx(6.53, abs=0.01)
    single = settings.make("one_store_lost", lead_time=3, underage_cost=9.0)
    assert optimal.cost(problem) == optimal.cost(single)
    assert problem.structure.network.topology == "independent_stores"
    assert problem.structure.n_stores == 50 and problem.structure.lost_demand


# --------------------------------------------------------------------------------------
# Users' networks from YAML


def one_warehouse_yaml(problem) -> str:
    """The network file of a one_warehouse instance, written out from its numbers."""
    p = jax.tree.map(lambda x: np.asarray(x).tolist(), problem.params)
    s = problem.structure
    lines = ["lost_demand: true", "demand: {distribution: normal, correlation: 0.5, clip: true}",
             "locations:",
             f"  - {{name: warehouse, kind: warehouse, holding_cost: "
             f"{p.warehouse_holding_cost[0]!r}}}"]
    for i in range(s.n_stores):
        lines.append(
            f"  - {{name: store_{i}, kind: store, slots: {s.store_slots}, "
            f"holding_cost: {p.holding_cost[i]!r}, underage_cost: {p.underage_cost[i]!r}, "
            f"demand_mean: {p.demand_mean[i]!r}, demand_std: {p.demand_std[i]!r}}}")
    lines += ["edges:", f"  - {{source: supplier, destination: warehouse, lead_time: "
                        f"{p.warehouse_lead_time[0]}}}"]
    lines += [f"  - {{source: warehouse, destination: store_{i}, lead_time: {p.lead_time[i]}}}"
              for i in range(s.n_stores)]
    return "\n".join(lines) + "\n"


def test_yaml_one_warehouse_equals_the_setting(tmp_path):
    setting = settings.make("one_warehouse", n_stores=3, seed=0)
    path = tmp_path / "ow.yaml"
    path.write_text(one_warehouse_yaml(setting))
    mine = settings.make(str(path))
    assert mine.structure.network == setting.structure.network
    for field in ("lost_demand", "maximize_profit", "demand"):
        assert getattr(mine.structure, field) == getattr(setting.structure, field)
    leaves_equal(mine.params, setting.params)
    # Same sampled scenarios and the same simulated costs.
    key = jax.random.key(3)
    sc = invjax.scenarios.sample(setting, key, 64, 30, 10)
    leaves_equal(invjax.scenarios.sample(mine, jax.random.key(3), 64, 30, 10), sc)
    policy = invjax.policies.base_stock_allocation(setting)
    levels = np.asarray(setting.params.demand_mean) * 4.0
    params = policy.params_for(levels, 2.0 * levels.sum())
    got = invjax.simulate(mine, invjax.policies.base_stock_allocation(mine), params, sc)
    want = invjax.simulate(setting, policy, params, sc)
    assert float(got.mean_cost) == float(want.mean_cost)
    np.testing.assert_array_equal(got.cost, want.cost)


def test_example_network_loads():
    problem = settings.load_network(EXAMPLE)
    s = problem.structure
    assert s.name == "my_network" and s.network.topology == "one_warehouse"
    assert [loc.name for loc in s.network.of_kind("store")] == ["north", "south", "city"]
    np.testing.assert_array_equal(problem.params.lead_time, [2, 3, 2])
    np.testing.assert_allclose(problem.params.underage_cost, [9.0, 7.0, 11.0])
    assert settings.config(EXAMPLE)["data"]["train"] == [8192, 50, 30]


def test_yaml_network_optimum_follows_the_topology(tmp_path):
    """Two independent backlogged normal stores: the optimum is the mean of the stores'
    closed forms, whatever the file is called; one of them alone: one_store_backlogged's."""
    stores = [(5.0, 1.6, 4, 9.0, 1.0), (3.0, 1.0, 2, 4.0, 0.5)]  # mean, std, L, p, h

    def write(entries):
        locs = "".join(f"  - {{name: s{i}, kind: store, slots: {max(4, L)}, holding_cost: {h}, "
                       f"underage_cost: {b}, demand_mean: {m}, demand_std: {sd}}}\n"
                       for i, (m, sd, L, b, h) in enumerate(entries))
        edges = "".join(f"  - {{source: supplier, destination: s{i}, lead_time: {e[2]}}}\n"
                        for i, e in enumerate(entries))
        path = tmp_path / f"net{len(entries)}.yaml"
        path.write_text("lost_demand: false\nlocations:\n" + locs + "edges:\n" + edges)
        return settings.load_network(path)

    two = optimal.known(write(stores))
    assert two.method == optimal.BASE_STOCK
    want = np.mean([optimal.backlogged_base_stock(*a)[0] for a in stores])
    assert two.cost == pytest.approx(want, rel=1e-6)
    one = write(stores[:1])
    ref = settings.make("one_store_backlogged", lead_time=4, underage_cost=9.0)
    assert optimal.cost(one) == pytest.approx(optimal.cost(ref), rel=1e-6)


def test_cli_trains_on_a_network_file(tmp_path, capsys):
    code = cli_main(["train", "--network", EXAMPLE, "vanilla", "--quiet",
                     "--out", str(tmp_path / "run"), "--set", "trainer.epochs=1",
                     "--set", "trainer.batch_size=32", "--set", "trainer.train=[32,12,4]",
                     "--set", "trainer.dev=[32,12,4]", "--set", "trainer.test=[32,12,4]"])
    assert code == 0
    assert "test cost per store per period" in capsys.readouterr().out


# --------------------------------------------------------------------------------------
# Bad input


BAD_FILES = {
    "python_tag": ("!!python/object/apply:os.system ['echo hi']\n", "YAML"),
    "malformed": ("locations: [\n  - {name: a\n", "YAML"),
    "not_a_mapping": ("- 1\n- 2\n", "mapping"),
    "unknown_top_key": ("locations: []\nedges: []\nstores: 3\n", "stores"),
    "no_locations": ("edges: []\n", "locations"),
}
STORE = ("{name: a, kind: store, holding_cost: 1, underage_cost: 9, demand_mean: 5, "
         "demand_std: 1}")
BAD_NETWORKS = {  # (locations, edges, text the error must name)
    "missing_underage": ("[{name: a, kind: store, holding_cost: 1, demand_mean: 5, "
                         "demand_std: 1}]", "[{source: supplier, destination: a, "
                         "lead_time: 1}]", "underage_cost"),
    "bad_kind": (f"[{STORE}, {{name: w, kind: depot}}]",
                 "[{source: supplier, destination: a, lead_time: 1}]", "depot"),
    "zero_lead_time": (f"[{STORE}]", "[{source: supplier, destination: a, lead_time: 0}]",
                       "lead_time"),
    "string_cost": (f"[{STORE}]", "[{source: supplier, destination: a, lead_time: 1, "
                    "cost: cheap}]", "cost"),
    "unknown_location": (f"[{STORE}]", "[{source: supplier, destination: b, lead_time: 1}]",
                         "'b'"),
    "no_inbound": (f"[{STORE}, {{name: w, kind: warehouse}}]",
                   "[{source: supplier, destination: a, lead_time: 1}]", "'w'"),
    "cycle": (f"[{STORE}, {{name: w, kind: warehouse}}, {{name: v, kind: warehouse}}]",
              "[{source: w, destination: a, lead_time: 1}, {source: v, destination: w, "
              "lead_time: 1}, {source: w, destination: v, lead_time: 1}]", "cycle"),
    "negative_holding": ("[{name: a, kind: store, holding_cost: -1, underage_cost: 9, "
                         "demand_mean: 5, demand_std: 1}]",
                         "[{source: supplier, destination: a, lead_time: 1}]", "holding_cost"),
    "bool_slots": ("[{name: a, kind: store, slots: true, holding_cost: 1, underage_cost: 9, "
                   "demand_mean: 5, demand_std: 1}]",
                   "[{source: supplier, destination: a, lead_time: 1}]", "slots"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_network_files_name_the_file(tmp_path, case):
    text, what = BAD_FILES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=what) as error:
        settings.make(str(path))
    assert str(path) in str(error.value)


@pytest.mark.parametrize("case", list(BAD_NETWORKS))
def test_bad_network_fields_are_named(tmp_path, case):
    locations, edges, what = BAD_NETWORKS[case]
    path = tmp_path / "net.yaml"
    path.write_text(f"locations: {locations}\nedges: {edges}\n")
    with pytest.raises(ValueError, match=what):
        settings.load_network(path)


def test_network_file_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        settings.make(str(tmp_path / "missing.yaml"))
    with pytest.raises(ValueError, match="no problem options"):
        settings.make(EXAMPLE, n_stores=3)
    poisson = tmp_path / "poisson.yaml"
    poisson.write_text("demand: {distribution: poisson}\nlocations: [" + STORE + "]\n"
                       "edges: [{source: supplier, destination: a, lead_time: 1}]\n")
    with pytest.raises(ValueError, match="demand_std"):
        settings.load_network(poisson)
    assert cli_main(["train", "--network", str(tmp_path / "missing.yaml")]) == 2
    assert cli_main(["train", "--network", "one_store_lost"]) == 2


def test_issue_examples():
    with pytest.raises(ValueError, match="transshipment: lead_time: must be an integer >= 1"):
        settings.make("transshipment", lead_time=[1, 2])
    with pytest.raises(ValueError, match="one_warehouse: n_stores: must be an integer >= 1"):
        settings.make("one_warehouse", n_stores=2.5)
    assert settings.make("many_warehouses", n_stores=6).structure.n_stores == 6
    with pytest.raises(ValueError, match="n_stores must be >= n_warehouses"):
        settings.make("many_warehouses", n_warehouses=4, n_stores=3)
    with pytest.raises(ValueError, match="upstream_lead_times"):
        settings.make("serial", upstream_lead_times=[1, 2])
    with pytest.raises(ValueError, match="unknown override"):
        settings.make("serial_chain", n_stage=5)
    with pytest.raises(ValueError, match="setting: unknown"):
        settings.make("many_warehouse")


def bad_values(option):
    """Values of the wrong type or range for an option of `options.SCHEMAS`."""
    out = ["abc", {"a": 1}, float("nan")] + ([] if option.nullable else [None])
    if option.kind.endswith("_list"):
        return out + [3, [], ["a"], [True]] + ([[0]] if option.low else [])
    out += [[1, 2], True] if option.kind != "bool" else [1, "true"]
    if option.kind == "int":
        out.append(2.5)
    if option.low is not None:
        out.append(option.low - 1)
    if option.high is not None:
        out.append(option.high + (0 if option.below_high else 1))
    return out


CASES = [(name, key, value) for name, schema in SCHEMAS.items()
         for key, option in schema.items() for value in bad_values(option)]


@pytest.mark.parametrize("name,key,value", CASES)
def test_every_option_rejects_bad_values(name, key, value):
    with pytest.raises(ValueError, match=f"{name}: {key}: must be") as error:
        settings.make(name, **{key: value})
    assert "got" in str(error.value)


def test_schemas_cover_the_shipped_options():
    for name in settings.names():
        assert set(settings.config(name)["problem"]) == set(SCHEMAS[name]), name
