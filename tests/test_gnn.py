"""The GNN policy (SPEC §8): equivariance under relabelling stores, feasible flows on
random networks, one parameter pytree for every network size, both aggregations equal,
a NumPy re-implementation of the message passing, supplier orders bounded above the
cap, learning on independent stores and a many-warehouse network, one compilation.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246 (v3); SPEC §8.
"""

import chex
import jax
import numpy as np
import pytest
from conftest import make_instance
from random_networks import problem_on, random_network
from test_policies_networks import _assert_feasible, _permuted, _random_params, _rollout_actions

import invjax
from invjax import settings
from invjax.networks import chain
from invjax.policies import gnn as gnn_module
from invjax.policies.gnn import gnn
from invjax.policies.graph import graph, rounds
from invjax.train import TrainConfig, make_train


@pytest.mark.parametrize("instance", ["many_warehouses", "one_warehouse", "independent_stores"])
def test_relabelling_stores_relabels_their_flows(instance):
    problem = make_instance(instance)
    perm = np.random.default_rng(1).permutation(problem.structure.n_stores)
    structure, edge_perm = _permuted(problem, perm)
    policy, moved_policy = gnn(problem), gnn(structure)
    params = _random_params(policy, 3)
    moved_apply = jax.jit(moved_policy.apply)
    for state, action in _rollout_actions(problem, policy, params, jax.random.key(4))[::2]:
        p = state.params
        store_fields = {f: getattr(p, f)[:, perm] for f in
                        ("holding_cost", "underage_cost", "demand_mean", "demand_std")}
        edge_fields = {f: getattr(p, f)[:, edge_perm] for f in ("lead_time", "procurement_cost")}
        moved_state = state.replace(store_inventory=state.store_inventory[:, perm],
                                    past_demand=state.past_demand[:, perm],
                                    params=p.replace(**store_fields, **edge_fields))
        moved = moved_apply(params, moved_state)  # the same parameters
        np.testing.assert_allclose(moved.stores, action.stores[:, edge_perm], rtol=1e-5,
                                   atol=1e-5)
        if action.warehouses is not None:
            np.testing.assert_allclose(moved.warehouses, action.warehouses, rtol=1e-5,
                                       atol=1e-5)


@pytest.mark.parametrize("seed", range(6))
def test_flows_never_exceed_the_suppliers_on_hand_on_random_networks(seed):
    rng = np.random.default_rng(seed)
    problem = problem_on(random_network(rng), rng, lost_demand=bool(seed % 2))
    policy = gnn(problem)
    params = _random_params(policy, seed)
    for state, action in _rollout_actions(problem, policy, params, jax.random.key(seed + 50)):
        _assert_feasible(problem.structure.network, state, action)


def _shapes(params):
    return jax.tree.map(lambda x: x.shape, params)


@pytest.mark.parametrize("family", [
    [("one_warehouse", dict(n_stores=3)), ("one_warehouse", dict(n_stores=50))],
    [("many_warehouses", dict(n_warehouses=2)), ("many_warehouses", dict(n_warehouses=4))],
    [("independent_stores", dict(n_stores=3)), ("independent_stores", dict(n_stores=50))],
])
def test_parameters_do_not_depend_on_the_network_size(family):
    (small_name, small_kw), (large_name, large_kw) = family
    small, large = settings.make(small_name, **small_kw), settings.make(large_name, **large_kw)
    assert large.structure.n_stores > small.structure.n_stores
    params = gnn(small).init(jax.random.key(0))
    assert _shapes(params) == _shapes(jax.eval_shape(gnn(large).init, jax.random.key(0)))
    # The small network's parameters run the large network.
    sc = invjax.scenarios.sample(large, jax.random.key(1), 8, 6)
    cost = invjax.simulate(large, gnn(large), params, sc).mean_cost
    assert np.isfinite(float(cost))


def test_segment_sum_and_incidence_matmul_agree():
    problem = make_instance("many_warehouses")
    a, b = gnn(problem, aggregation="matmul"), gnn(problem, aggregation="segment")
    params = a.init(jax.random.key(2))
    for state, action in _rollout_actions(problem, a, params, jax.random.key(5)):
        other = b.apply(params, state)
        np.testing.assert_allclose(other.stores, action.stores, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(other.warehouses, action.warehouses, rtol=1e-5, atol=1e-5)


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def _mlp(tree, x):
    layers = sorted(tree, key=lambda k: int(k.split("_")[1]))
    for i, name in enumerate(layers):
        x = x @ np.asarray(tree[name]["kernel"], np.float64) + np.asarray(tree[name]["bias"])
        if i < len(layers) - 1:
            x = _elu(x)
    return x


def _numpy_gnn(network, params, nodes, lead, on_hand, scale, cap, n_rounds):
    """SPEC §8 with explicit loops over edges (no incidence tables); supplier orders
    above `cap` [n] bent to 2 cap - cap^2 / order."""
    g, p = graph(network), params["params"]
    n_edges, n_nodes = len(g.source), g.n_nodes
    h = _mlp(p["initial_node"], nodes)
    e = _mlp(p["initial_edge"], np.concatenate([h[:, g.source], h[:, g.destination], lead], -1))
    for _ in range(n_rounds):
        inc, out = np.zeros_like(h), np.zeros_like(h)
        in_deg, out_deg = np.zeros(n_nodes), np.zeros(n_nodes)
        for k in range(n_edges):
            inc[:, g.destination[k]] += e[:, k]
            out[:, g.source[k]] += e[:, k]
            in_deg[g.destination[k]] += 1
            out_deg[g.source[k]] += 1
        inc /= np.sqrt(np.maximum(in_deg, 1))[None, :, None]
        out /= np.sqrt(np.maximum(out_deg, 1))[None, :, None]
        h = h + _mlp(p["node_update"], np.concatenate([h, inc, out], -1))
        e = e + _mlp(p["edge_update"], np.concatenate([e, h[:, g.source], h[:, g.destination]], -1))
    desired = np.logaddexp(0, _mlp(p["output"], e)[..., 0] + np.log(np.expm1(1.0)))
    desired = desired * scale[:, None]
    flows = desired.copy()
    for k in np.flatnonzero(g.source[:g.n_supply] == 0):
        over = desired[:, k] > cap
        flows[over, k] = 2 * cap[over] - cap[over] ** 2 / desired[over, k]
    for v in range(1, n_nodes - 1):
        mine = [k for k in range(n_edges) if g.source[k] == v and g.destination[k] != n_nodes - 1]
        if not mine:
            continue
        total = desired[:, mine].sum(-1)
        ratio = np.divide(np.maximum(on_hand[:, v], 0), total, out=np.zeros_like(total),
                          where=total > 0)
        ratio = ratio if g.exact[v] else np.minimum(1.0, ratio)
        flows[:, mine] = desired[:, mine] * ratio[:, None]
    return flows[:, :g.n_supply]


def _cap(state):
    """4 x the sum of store mean demands, [n] (SPEC §4's supplier-order cap)."""
    return 4 * np.asarray(state.params.demand_mean, np.float64).sum(-1)


def _numpy_flows(network, params, state, cap):
    """`_numpy_gnn` on the GNN's inputs at `state`, in float64."""
    as64 = lambda x: np.asarray(x, np.float64)  # noqa: E731
    return _numpy_gnn(
        network, params, as64(gnn_module.node_inputs(network, state)),
        as64(gnn_module.edge_lead_times(network, state)),
        as64(gnn_module.node_on_hand(network, state)), as64(gnn_module.demand_scale(state)),
        cap, rounds(network))


@pytest.mark.parametrize("instance", ["many_warehouses", "transshipment", "serial"])
def test_gnn_equals_numpy_message_passing(instance):
    problem = make_instance(instance)
    network = problem.structure.network
    policy = gnn(problem)
    params = policy.init(jax.random.key(11))
    for state, action in _rollout_actions(problem, policy, params, jax.random.key(12))[::2]:
        got = np.concatenate([np.asarray(x) for x in action if x is not None], -1)
        expected = _numpy_flows(network, params, state, _cap(state))
        np.testing.assert_allclose(got, expected, rtol=2e-4, atol=1e-4)


def _with_output_bias(params, bias):
    tree = jax.tree.map(lambda x: x, params)  # a copy
    last = max(tree["params"]["output"], key=lambda k: int(k.split("_")[1]))
    tree["params"]["output"][last]["bias"] = tree["params"]["output"][last]["bias"] + bias
    return tree


@pytest.mark.parametrize("instance", ["many_warehouses", "serial"])
def test_supplier_orders_bend_below_twice_the_cap_and_match_numpy(instance):
    # A large output bias asks for orders far above 4 x the sum of store means.
    problem = make_instance(instance)
    network = problem.structure.network
    policy = gnn(problem)
    params = _with_output_bias(policy.init(jax.random.key(11)), 40.0)
    g = graph(network)
    supplier = np.flatnonzero(g.source[:g.n_supply] == 0)
    for state, action in _rollout_actions(problem, policy, params, jax.random.key(12))[::3]:
        got = np.concatenate([np.asarray(x) for x in action if x is not None], -1)
        cap = _cap(state)
        assert np.all(got[:, supplier] > cap[:, None])
        assert np.all(got[:, supplier] < 2 * cap[:, None])
        expected = _numpy_flows(network, params, state, cap)
        np.testing.assert_allclose(got, expected, rtol=2e-4, atol=1e-4)


def test_bounded_orders_is_the_identity_below_the_cap_and_smooth_above():
    cap = np.float32(20.0)
    x = np.linspace(0.0, 200.0, 2001, dtype=np.float32)
    y = np.asarray(gnn_module.bounded_orders(x, cap))
    np.testing.assert_array_equal(y[x <= cap], x[x <= cap])
    assert np.all(np.diff(y) > 0) and y.max() < 2 * cap
    slope = jax.vmap(jax.grad(lambda v: gnn_module.bounded_orders(v, cap)))(x)
    np.testing.assert_allclose(slope[x > cap], (cap / x[x > cap]) ** 2, rtol=1e-5)
    assert abs(float(slope[x > cap][0]) - 1.0) < 0.03  # no kink at the cap


def test_rounds_follow_the_network():
    assert rounds(make_instance("many_warehouses").structure.network) == 1
    assert rounds(make_instance("one_warehouse").structure.network) == 1
    assert rounds(make_instance("independent_stores").structure.network) == 1
    four = chain(["e0", "e1", "w", "s"], ["echelon", "echelon", "warehouse", "store"],
                 [1, 2, 3, 4], [1, 1, 1, 4])
    assert rounds(four) == 4  # 3 upstream stages + the store


@pytest.mark.parametrize("option, value, field", [
    ("aggregation", "dense", "aggregation"), ("rounds", 0, "rounds"),
    ("rounds", 1.5, "rounds"), ("embedding", 0, "embedding"),
    ("activation", "swish2", "activation")])
def test_bad_options_name_the_field(option, value, field):
    with pytest.raises(ValueError, match=field):
        gnn(make_instance("many_warehouses"), **{option: value})


def _train(problem, epochs, lr=1e-3, n=128, batch=128):
    policy = invjax.policies.make("gnn", problem)
    config = TrainConfig(learning_rate=lr, batch_size=batch, epochs=epochs, eval_every=10,
                         clip_norm=1.0, train=(n, 50, 30), dev=(256, 80, 40))
    trainer = make_train(problem, policy, config)
    k_train, k_init, k_test = jax.random.split(jax.random.key(0), 3)
    state, _ = jax.jit(trainer.train)(k_train)
    test = invjax.scenarios.sample(problem, k_test, 512, 300, 100)
    initial = float(trainer.evaluate(trainer.init(k_init).params, test))
    return initial, float(trainer.evaluate(state.best_params, test))


def test_short_training_on_independent_stores_reaches_the_optimum():
    problem = settings.make("independent_stores", n_stores=5)
    _, cost = _train(problem, epochs=40, lr=1e-2)
    assert cost < 1.03 * invjax.optimal.known(problem).cost, cost


def test_short_training_on_many_warehouses_beats_its_initial_policy():
    problem = settings.make("many_warehouses", n_warehouses=2, n_stores=4)
    initial, trained = _train(problem, epochs=20, lr=3e-3)
    assert trained < 0.7 * initial, (initial, trained)


def test_rollout_compiles_once():
    problem = make_instance("many_warehouses")
    policy = gnn(problem)

    @chex.assert_max_traces(n=1)
    def run(params, scenarios):
        return invjax.simulate(problem, policy, params, scenarios, record=False).mean_cost

    run = jax.jit(run)
    costs = []
    for i in range(3):
        sc = invjax.scenarios.sample(problem, jax.random.key(i), 8, 10)
        params = jax.tree.map(lambda x: x * (1 + 0.1 * i), policy.init(jax.random.key(0)))
        costs.append(float(run(params, sc)))
    assert len(set(costs)) == 3, costs
