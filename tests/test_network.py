"""The network as a value (SPEC §7): validation errors, canonical edge order, topology;
and, on the authors' 2 warehouses x 10 stores network, pathwise gradients against
finite differences and a rollout that compiles once.

References: SPEC §1, §5, §7; Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 4.
"""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import invjax
from invjax.network import SUPPLIER, Edge, Location, Network
from invjax.networks import chain, one_warehouse, stores
from invjax.policies import Policy
from invjax.policies.policy import allocate
from random_networks import many_warehouses_network, many_warehouses_problem, random_network


def loc(name, kind="store", slots=1, keeps_stock=True):
    return Location(name, kind, slots, keeps_stock)


# ---------------------------------------------------------------------------------------
# Validation: a ValueError that names the offending location or edge.

W, S0, S1 = loc("w", "warehouse"), loc("s0"), loc("s1")
GOOD_EDGES = (Edge(SUPPLIER, "w", 2), Edge("w", "s0", 1), Edge("w", "s1", 3))

BAD_NETWORKS = {
    "cycle": ((loc("a", "warehouse"), loc("b", "warehouse"), S0),
              (Edge(SUPPLIER, "a", 1), Edge("a", "b", 1), Edge("b", "a", 1),
               Edge("b", "s0", 1)),
              r"cycle.*'a'.*'b'"),
    "cycle without supplier": ((loc("a", "echelon"), loc("b", "echelon"), S0),
                               (Edge("a", "b", 1), Edge("b", "a", 2), Edge("b", "s0", 1)),
                               r"cycle.*'a'.*'b'"),
    "no inbound edge": ((W, loc("v", "warehouse"), S0, S1),
                        GOOD_EDGES[:2] + (Edge("v", "s1", 1),),
                        r"location 'v': no inbound edge"),
    "store without inbound edge": ((W, S0, S1), GOOD_EDGES[:2],
                                   r"location 's1': no inbound edge"),
    "duplicate edge": ((W, S0, S1), GOOD_EDGES + (Edge("w", "s1", 2),),
                       r"edge w -> s1: duplicate edge"),
    "duplicate name": ((W, S0, loc("s0")), GOOD_EDGES[:2],
                       r"location 's0': duplicate name"),
    "unknown kind": ((loc("w", "depot"), S0), (Edge(SUPPLIER, "w", 1), Edge("w", "s0", 1)),
                     r"location 'w': kind 'depot'; allowed: \['store', 'warehouse', 'echelon'\]"),
    "unknown source": ((W, S0, S1), GOOD_EDGES + (Edge("x", "s0", 1),),
                       r"edge x -> s0: unknown location 'x'"),
    "unknown destination": ((W, S0, S1), GOOD_EDGES + (Edge("w", "s9", 1),),
                            r"edge w -> s9: unknown location 's9'"),
    "supplier as destination": ((W, S0, S1), GOOD_EDGES + (Edge("w", SUPPLIER, 1),),
                                r"edge w -> supplier: the supplier cannot be a destination"),
    "store supplies a store": ((W, S0, S1), GOOD_EDGES + (Edge("s0", "s1", 1),),
                               r"edge s0 -> s1: a store cannot supply"),
    "store supplies a warehouse": ((W, S0, S1), GOOD_EDGES + (Edge("s0", "w", 1),),
                                   r"edge s0 -> w: a store cannot supply"),
    "self loop": ((W, S0, S1), GOOD_EDGES + (Edge("w", "w", 1),),
                  r"edge w -> w: a location cannot supply itself"),
    "lead time 0": ((W, S0, S1), (Edge(SUPPLIER, "w", 0),) + GOOD_EDGES[1:],
                    r"edge supplier -> w: lead_time must be an integer >= 1, got 0"),
    "negative lead time": ((W, S0, S1), GOOD_EDGES[:2] + (Edge("w", "s1", -2),),
                           r"edge w -> s1: lead_time must be an integer >= 1, got -2"),
    "fractional lead time": ((W, S0, S1), GOOD_EDGES[:2] + (Edge("w", "s1", 1.5),),
                             r"edge w -> s1: lead_time must be an integer >= 1, got 1.5"),
    "negative edge cost": ((W, S0, S1), GOOD_EDGES[:2] + (Edge("w", "s1", 1, -0.5),),
                           r"edge w -> s1: cost must be a finite number >= 0"),
    "zero slots": ((W, loc("s0", slots=0), S1), GOOD_EDGES,
                   r"location 's0': slots must be an integer >= 1"),
    "boolean lead time": ((W, S0, S1), GOOD_EDGES[:2] + (Edge("w", "s1", True),),
                          r"edge w -> s1: lead_time must be an integer >= 1, got True"),
    "NaN edge cost": ((W, S0, S1), GOOD_EDGES[:2] + (Edge("w", "s1", 1, float("nan")),),
                      r"edge w -> s1: cost must be a finite number >= 0"),
    "no store": ((W,), (Edge(SUPPLIER, "w", 1),), r"at least one store"),
    "supplier as a name": ((loc(SUPPLIER),), (Edge(SUPPLIER, SUPPLIER, 1),),
                           r"location 'supplier': a name must be"),
}


@pytest.mark.parametrize("case", list(BAD_NETWORKS))
def test_bad_network_raises_naming_the_location_or_edge(case):
    locations, edges, message = BAD_NETWORKS[case]
    with pytest.raises(ValueError, match=message):
        Network(locations, edges)


def test_good_network_is_accepted_and_hashable():
    net = Network((W, S0, S1), GOOD_EDGES)
    assert hash(net) == hash(Network((W, S0, S1), GOOD_EDGES[::-1]))
    assert net == Network((W, S0, S1), GOOD_EDGES[::-1])


def test_numpy_scalars_are_accepted_as_numbers():
    """Lead times, slots and costs read from NumPy arrays are integers and numbers:
    the network equals (and hashes as) the one built from Python numbers."""
    lead_times = np.asarray([2, 1, 3])
    edges = tuple(Edge(e.source, e.destination, lead, np.float32(0.5))
                  for e, lead in zip(GOOD_EDGES, lead_times))
    net = Network((W, loc("s0", slots=np.int64(2)), S1), edges)
    want = Network((W, loc("s0", slots=2), S1),
                   tuple(Edge(e.source, e.destination, e.lead_time, 0.5) for e in GOOD_EDGES))
    assert net == want and hash(net) == hash(want)
    assert all(type(e.lead_time) is int and type(e.cost) is float for e in net.edges)


def test_lead_time_above_the_width_is_an_input_error():
    """Per-scenario lead times outside 1..width, through make_problem and from_arrays
    (SPEC §3 edge cases), on the 2 x 10 network (store width 6, warehouse width 3)."""
    problem = many_warehouses_problem()
    s = problem.structure
    assert (s.store_slots, s.warehouse_slots) == (6, 3)
    kwargs = dict(holding_cost=1.0, underage_cost=9.0, demand_mean=5.0, demand_std=1.0)
    edges = s.count("lead_time")
    with pytest.raises(ValueError, match=r"lead_time: lead times must lie in 1\.\.6"):
        invjax.make_problem(s, lead_time=[7] + [1] * (edges - 1), **kwargs)
    with pytest.raises(ValueError, match=r"warehouse_lead_time: lead times must lie in 1\.\.3"):
        invjax.make_problem(s, warehouse_lead_time=[3, 4], **kwargs)
    with pytest.raises(ValueError, match=r"lead_time: lead times must lie in 1\.\.6"):
        invjax.make_problem(s, lead_time=0, **kwargs)
    with pytest.raises(ValueError, match=rf"lead_time: expected shape \({edges},\)"):
        invjax.make_problem(s, lead_time=[2] * 10, **kwargs)  # one per store, not per edge

    n = 4
    params = invjax.scenarios.per_scenario(problem.params, n)
    demand = np.ones((n, 3, 10), np.float32)
    store = np.zeros((n, 10, 6), np.float32)
    for field, bad, width in [("lead_time", 7, 6), ("warehouse_lead_time", 4, 3),
                              ("lead_time", 0, 6)]:
        value = np.asarray(getattr(params, field)).copy()
        value[n - 1, -1] = bad
        with pytest.raises(ValueError, match=rf"{field}: lead times must lie in 1\.\.{width}"):
            invjax.scenarios.from_arrays(problem, demand, store,
                                         params=params.replace(**{field: jnp.asarray(value)}))
    with pytest.raises(ValueError, match=rf"params.lead_time: expected shape \[{n}, {edges}\]"):
        invjax.scenarios.from_arrays(
            problem, demand, store, params=params.replace(lead_time=params.lead_time[:, :10]))


def test_step_with_flows_of_the_wrong_shape_names_the_field():
    """On the 2 x 10 network flows are per edge (15 into stores, 2 into warehouses)."""
    problem = many_warehouses_problem()
    env = invjax.Env(problem)
    n = 4
    sc = invjax.scenarios.from_arrays(problem, np.ones((n, 2, 10)), np.ones((n, 10, 6)))
    state = env.reset(sc)
    d = sc.demand[:, 0]
    step = functools.partial(jax.eval_shape, env.step)  # shapes are checked while tracing
    good = invjax.Action(jnp.ones((n, 15)), jnp.ones((n, 2)))
    step(state, good, d)  # accepted
    cases = [
        (good._replace(stores=jnp.ones((n, 10))), r"Action\.stores: expected shape \(4, 15\)"),
        (good._replace(stores=jnp.ones((15,))), r"Action\.stores: expected shape \[4, 15\]"),
        (good._replace(stores=jnp.ones((n + 1, 15))),
         r"Action\.stores: expected shape \[4, 15\]"),  # batch size differs from the state's
        (good._replace(warehouses=jnp.ones((n - 1, 2))),
         r"Action\.warehouses: expected shape \(4, 2\)"),
        (good._replace(warehouses=None), r"Action\.warehouses: required, shape \(4, 2\)"),
        (good._replace(warehouses=jnp.ones((n, 1))),
         r"Action\.warehouses: expected shape \(4, 2\)"),
        (good._replace(echelons=jnp.ones((n, 1))), r"Action\.echelons: expected shape \(4, 0\)"),
    ]
    for action, message in cases:
        with pytest.raises(ValueError, match=message):
            step(state, action, d)


# ---------------------------------------------------------------------------------------
# Canonical order and topology.

def test_edges_are_grouped_by_destination_kind_then_destination_then_source():
    net = many_warehouses_network()
    store_edges = net.edges_into("store")
    assert [e.destination for e in net.edges_into("warehouse")] == ["warehouse_0",
                                                                    "warehouse_1"]
    assert net.edges == store_edges + net.edges_into("warehouse")
    positions = [(int(e.destination.split("_")[1]), e.source) for e in store_edges]
    assert positions == sorted(positions)
    assert len(store_edges) == 15  # SPEC §7 table: 6 + 9 nonzero lead times
    assert net.inbound("store_2") == (("store", 2), ("store", 3))
    assert [store_edges[j].lead_time for _, j in net.inbound("store_2")] == [6, 2]
    assert net.outbound("warehouse_0") == tuple(
        ("store", j) for j, e in enumerate(store_edges) if e.source == "warehouse_0")
    assert net.outbound(SUPPLIER) == (("warehouse", 0), ("warehouse", 1))
    assert not net.one_inbound_in_order("store") and net.one_inbound_in_order("warehouse")
    assert net.longest_path() == 3 + 6


def standard_networks():
    """(network, expected topology) of the v2 settings and hand-made networks."""
    many = many_warehouses_network()
    out = [(invjax.settings.make(name).structure.network, expected) for name, expected in [
        ("one_store_backlogged", "one_store"), ("one_store_lost", "one_store"),
        ("serial", "serial"), ("transshipment", "transshipment"),
        ("one_warehouse", "one_warehouse")]]
    out += [
        (many, "many_warehouses"),
        (Network(stores(5, 2), tuple(Edge(SUPPLIER, f"store_{i}", 2) for i in range(5))),
         "independent_stores"),
        (chain([f"e{k}" for k in range(6)] + ["s"], ["echelon"] * 6 + ["store"],
               [1, 2, 3, 1, 2, 3, 4], [1] * 7), "serial"),
        (chain(["a", "b", "s"], ["warehouse", "warehouse", "store"], [2, 2, 1], [1, 1, 3]),
         "serial"),
        (one_warehouse([2, 3], 3, 4, keeps_stock=False), "transshipment"),
        # A store fed by the supplier and by the warehouse.
        (Network((W, S0, S1), GOOD_EDGES + (Edge(SUPPLIER, "s0", 4),)), "general"),
        # An echelon above a warehouse with two stores.
        (Network((loc("e", "echelon"), W, S0, S1),
                 (Edge(SUPPLIER, "e", 1), Edge("e", "w", 1)) + GOOD_EDGES[1:]), "general"),
        # One store fed by two warehouses: not a chain.
        (Network((W, loc("v", "warehouse"), S0),
                 (Edge(SUPPLIER, "w", 1), Edge(SUPPLIER, "v", 1), Edge("w", "s0", 1),
                  Edge("v", "s0", 2))), "many_warehouses"),
        # A warehouse supplying a warehouse.
        (Network((W, loc("v", "warehouse"), S0, S1),
                 GOOD_EDGES[:2] + (Edge("w", "v", 1), Edge("v", "s1", 1))), "general"),
        # Two warehouses, disjoint stores.
        (Network((W, loc("v", "warehouse"), S0, S1),
                 GOOD_EDGES[:2] + (Edge(SUPPLIER, "v", 1), Edge("v", "s1", 1))),
         "many_warehouses"),
    ]
    return out


SETTING_TOPOLOGY = {
    "one_store_backlogged": "one_store", "one_store_lost": "one_store", "serial": "serial",
    "transshipment": "transshipment", "one_warehouse": "one_warehouse",
    "many_warehouses": "many_warehouses", "serial_chain": "serial",
    "independent_stores": "independent_stores",
}


@pytest.mark.parametrize("name", invjax.settings.names())
def test_topology_of_every_setting(name):
    assert name in SETTING_TOPOLOGY, f"new setting {name!r}: add its expected topology"
    assert invjax.settings.make(name).structure.network.topology == SETTING_TOPOLOGY[name]


def store_edges_by_position(network):
    """{(warehouse index, store index): lead time} of the warehouse -> store edges."""
    return {(network.index(e.source)[1], network.index(e.destination)[1]): e.lead_time
            for e in network.edges_into("store")}


def test_many_warehouses_setting_is_the_spec_network():
    """SPEC §7: the authors' 2 x 10 adjacency and lead times, warehouse h [0.3, 0.4],
    supplier -> warehouse lead time 3 and cost [0.5, 1.5], lost demand, one_warehouse's
    store model (correlation 0.5, clipped); larger sizes: each store served by one or
    two warehouses, lead times in 1..6."""
    problem = invjax.settings.make("many_warehouses")
    s, p = problem.structure, problem.params
    spec = many_warehouses_network()
    assert store_edges_by_position(s.network) == store_edges_by_position(spec)
    assert [(e.source, e.lead_time) for e in s.network.edges_into("warehouse")] == [
        (SUPPLIER, 3), (SUPPLIER, 3)]
    np.testing.assert_allclose(p.warehouse_procurement_cost, [0.5, 1.5])
    np.testing.assert_allclose(p.warehouse_holding_cost, [0.3, 0.4])
    assert s.lost_demand and s.demand.clip and s.demand.correlation == 0.5
    assert s.store_slots == 6 and s.network.of_kind("store")[0].slots == 3
    for n_warehouses, n_stores in [(3, 20), (4, 30), (5, 40), (6, 50)]:
        net = invjax.settings.make("many_warehouses", n_warehouses=n_warehouses).structure.network
        assert (net.count("warehouse"), net.count("store")) == (n_warehouses, n_stores)
        assert net.topology == "many_warehouses"
        degrees = [len(net.inbound(x.name)) for x in net.of_kind("store")]
        assert set(degrees) <= {1, 2}, degrees
        assert {e.lead_time for e in net.edges_into("store")} <= set(range(1, 7))


def test_topology_of_standard_and_hand_made_networks():
    for net, expected in standard_networks():
        assert net.topology == expected, (net, expected)


@pytest.mark.parametrize("seed", range(4))
def test_topology_does_not_depend_on_names_or_order(seed):
    """Renaming every location and listing locations and edges in another order
    gives the same topology (and the same canonical edges up to the renaming)."""
    rng = np.random.default_rng(seed)
    for net in [n for n, _ in standard_networks()] + [random_network(rng)]:
        rename = {loc.name: f"x{i}" for i, loc in enumerate(
            net.locations[i] for i in rng.permutation(len(net.locations)))}
        rename[SUPPLIER] = SUPPLIER
        # Kinds interleaved anew; within a kind the order (which fixes array positions)
        # is kept.
        queues = {kind: list(net.of_kind(kind)) for kind in ("store", "warehouse", "echelon")}
        kinds = [x.kind for x in net.locations]
        rng.shuffle(kinds)
        other = Network(
            tuple(Location(rename[x.name], x.kind, x.slots, x.keeps_stock)
                  for x in (queues[kind].pop(0) for kind in kinds)),
            tuple(Edge(rename[e.source], rename[e.destination], e.lead_time, e.cost)
                  for e in (net.edges[i] for i in rng.permutation(len(net.edges)))))
        assert other.topology == net.topology
        assert [(rename[e.source], rename[e.destination], e.lead_time) for e in net.edges] \
            == [(e.source, e.destination, e.lead_time) for e in other.edges]


# ---------------------------------------------------------------------------------------
# Gradients and tracing on the 2 x 10 network.

def base_stock_on_edges(network):
    """Base-stock per edge (flow up to level - destination's inventory position),
    made feasible by `allocate`. Params: {"store": [store edges], "warehouse": [2]}."""
    store_of = np.asarray([network.index(e.destination)[1]
                           for e in network.edges_into("store")])

    def apply(params, obs):
        store_ip = obs.store_inventory.sum(-1)[:, store_of]
        warehouse_ip = obs.warehouse_inventory.sum(-1)
        desired = invjax.Action(jax.nn.relu(params["store"] - store_ip),
                                jax.nn.relu(params["warehouse"] - warehouse_ip))
        return allocate(network, obs, desired)

    return Policy(init=lambda key: None, apply=apply)


def interior_levels(problem):
    """Levels in natural units, away from the kinks."""
    net = problem.structure.network
    mean = np.asarray(problem.params.demand_mean, np.float64)
    store = [0.7 * mean[net.index(e.destination)[1]] * (e.lead_time + 1) + 0.37
             for e in net.edges_into("store")]
    return {"store": jnp.asarray(store, jnp.float32),
            "warehouse": jnp.asarray([4.3 * mean.sum(), 2.9 * mean.sum()], jnp.float32)}


def to_float64(tree):
    return jax.tree.map(
        lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


def test_hindsight_gradient_on_many_warehouses_matches_finite_differences():
    """d hindsight_cost / d (levels, initial store inventories, demand) in float64,
    against central differences: every level, and random directions for the data.

    Demand is kept away from 0: with clipped demand a store that sold out and receives
    nothing sits at on-hand 0 = demand, the kink of its cost."""
    problem = many_warehouses_problem()
    policy = base_stock_on_edges(problem.structure.network)
    sc32 = invjax.scenarios.sample(problem, jax.random.key(5), 8, 16)
    sc32 = sc32.replace(demand=jnp.maximum(sc32.demand, 0.25))
    rng = np.random.default_rng(0)
    assert not jax.config.jax_enable_x64
    try:
        with jax.enable_x64(True):
            sc = to_float64(sc32)
            levels, unravel = ravel_pytree(to_float64(interior_levels(problem)))
            point = (levels, sc.store_inventory, sc.demand)

            def loss(levels, store_inventory, demand):
                return invjax.hindsight_cost(
                    problem, policy, unravel(levels),
                    sc.replace(store_inventory=store_inventory, demand=demand))

            # One compiled function for the gradient and for every difference quotient.
            value_and_grad = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))
            value, grads = value_and_grad(*point)
            assert value.dtype == jnp.float64
            results = []
            for k, what in enumerate(["levels", "store_inventory", "demand"]):
                x = point[k]
                if k == 0:
                    directions = list(np.eye(x.size))
                else:
                    directions = [rng.normal(size=x.shape) for _ in range(3)]
                auto = np.asarray([(np.asarray(grads[k]) * v).sum() for v in directions])
                fd = []
                for v in directions:
                    shifted = [list(point), list(point)]
                    shifted[0][k] = x + 1e-6 * v
                    shifted[1][k] = x - 1e-6 * v
                    up, down = (float(value_and_grad(*x)[0]) for x in shifted)
                    fd.append((up - down) / 2e-6)
                results.append((what, auto, np.asarray(fd)))
    finally:
        assert not jax.config.jax_enable_x64, "x64 mode leaked out of the test"
    for what, auto, fd in results:
        assert np.all(np.isfinite(auto)), what
        assert np.abs(auto).max() > 1e-3, f"{what}: degenerate point, no gradient signal"
        np.testing.assert_allclose(auto, fd, rtol=1e-4, atol=1e-4 * np.abs(fd).max(),
                                   err_msg=f"{what}: autodiff {auto} vs FD {fd}")
    assert np.count_nonzero(np.abs(results[0][1]) > 1e-6) >= 10, "most levels matter"


def random_scenarios_of(problem, seed, n=8, periods=12):
    rng = np.random.default_rng(seed)
    s = problem.structure
    return invjax.scenarios.from_arrays(
        problem, rng.uniform(0.0, 10.0, (n, periods, s.n_stores)),
        rng.uniform(0.0, 5.0, (n, s.n_stores, s.store_slots)), ignore_periods=4)


def test_rollout_on_many_warehouses_compiles_once():
    """A jitted rollout of the 2 x 10 network traces once for new scenarios and new
    parameters; so does `simulate` itself (a policy that counts its traces)."""
    problem = many_warehouses_problem()
    base = base_stock_on_edges(problem.structure.network)
    levels = interior_levels(problem)
    chex.clear_trace_counter()

    @jax.jit
    @chex.assert_max_traces(n=1)
    def run(params, scenarios):
        return invjax.simulate(problem, base, params, scenarios, record=False).mean_cost

    costs = []
    for i in range(3):
        sc = random_scenarios_of(problem, i)
        costs.append(float(run(jax.tree.map(lambda x: x * (1.0 + 0.1 * i), levels), sc)))
    assert len(set(costs)) == 3, costs  # really new values each time

    traces = []

    def apply(params, obs):
        traces.append(1)
        return base.apply(params, obs)

    policy = Policy(init=base.init, apply=apply)
    for i in range(3):
        sc = random_scenarios_of(problem, 3 + i)
        params = jax.tree.map(lambda x: x * (1.0 + 0.1 * i), levels)  # noqa: B023
        invjax.simulate(problem, policy, params, sc, record=False)
    assert len(traces) == 1, f"simulate traced the policy {len(traces)} times"
