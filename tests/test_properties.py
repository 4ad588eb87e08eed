"""Property-based checks of the dynamics (hypothesis): conservation of inventory,
feasibility of the feasible heuristics, signs of costs, and store-permutation symmetry.

States, per-scenario lead times and costs, demands and orders are random (seeded by
hypothesis); shapes are fixed per instance so that each jitted function compiles once.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import invjax
from conftest import make_instance, random_params, random_scenarios
from invjax.dynamics import complete_action
from invjax.network import SUPPLIER
from invjax.policies.policy import allocate, least_wanted, proportional_allocation
from random_networks import problem_on, random_network

N, PERIODS = 8, 12
TOL = 1e-4  # relative to the magnitudes involved (float32)

seeds = st.integers(0, 2**32 - 1)


@functools.cache
def env_step(instance):
    problem = make_instance(instance)
    env = invjax.Env(problem)
    return problem, jax.jit(env.transition)


@functools.cache
def policy_step(instance):
    """(problem, policy, jitted (params, state, demand) -> (action, next_state, cost))."""
    problem = make_instance(instance)
    s = problem.structure
    env = invjax.Env(problem)
    if s.name == "serial":
        policy = invjax.policies.echelon_stock(problem)
    else:
        policy = invjax.policies.base_stock_allocation(problem)

    @jax.jit
    def step(params, state, demand):
        action = complete_action(s, policy.apply(params, state))
        next_state, cost = env.transition(state, action, demand)
        return action, next_state, cost

    return problem, policy, step


def random_orders(structure, rng):
    def orders(m, scale):
        a = rng.uniform(0.0, scale, (N, m)).astype(np.float32)
        a[rng.random(a.shape) < 0.2] = 0.0
        return jnp.asarray(a)

    return invjax.Action(orders(structure.n_stores, 10.0),
                         orders(structure.n_warehouses, 30.0),
                         orders(structure.n_echelons, 30.0))


def positions(state):
    return (np.asarray(state.store_inventory, np.float64).sum(-1),
            np.asarray(state.warehouse_inventory, np.float64).sum(-1),
            np.asarray(state.echelon_inventory, np.float64).sum(-1))


ALL = ["one_store_backlogged", "one_store_backlogged_single_slot", "one_store_lost",
       "serial", "serial_long", "transshipment", "one_warehouse", "one_warehouse_profit"]


@given(instance=st.sampled_from(ALL), seed=seeds)
def test_conservation_of_inventory(instance, seed):
    """start position + orders - (sales | demand) = end position, per store, warehouse
    and echelon, in every period (pipelines included)."""
    problem, step = env_step(instance)
    s = problem.structure
    rng = np.random.default_rng(seed)
    sc = random_scenarios(problem, rng, N, PERIODS)
    state = invjax.Env(problem).reset(sc)
    for t in range(PERIODS):
        action = random_orders(s, rng)
        demand = np.asarray(sc.demand[:, t], np.float64)
        on_hand = np.asarray(state.store_inventory[..., 0], np.float64)
        next_state, _ = step(state, action, sc.demand[:, t])
        (ps, pw, pe), (qs, qw, qe) = positions(state), positions(next_state)
        a = [np.asarray(x, np.float64) for x in action]
        if s.lost_demand:
            assert np.all(on_hand >= 0)
            outflow = np.minimum(on_hand, demand)  # sales; the rest is lost
        else:
            outflow = demand
        scale = 1.0 + np.abs(ps).max() + np.abs(demand).max() + np.abs(a[0]).max()
        np.testing.assert_allclose(ps + a[0] - outflow, qs, atol=TOL * scale,
                                   err_msg=f"store, period {t}")
        shipped = a[0].sum(-1, keepdims=True)
        np.testing.assert_allclose(pw + a[1] - shipped[:, : s.n_warehouses], qw,
                                   atol=TOL * (1 + np.abs(pw).max(initial=0) + shipped.max()),
                                   err_msg=f"warehouse, period {t}")
        downstream = np.concatenate([a[2][:, 1:], a[1].sum(-1, keepdims=True)], -1)
        np.testing.assert_allclose(pe + a[2] - downstream[:, : s.n_echelons], qe,
                                   atol=TOL * (1 + np.abs(pe).max(initial=0) + 60),
                                   err_msg=f"echelon, period {t}")
        state = next_state


@given(
    instance=st.sampled_from(["one_warehouse", "one_warehouse_profit", "transshipment"]),
    seed=seeds,
    store_factor=st.floats(0.0, 3.0),
    warehouse_factor=st.floats(0.0, 6.0),
)
def test_base_stock_allocation_is_feasible(instance, seed, store_factor, warehouse_factor):
    """Under base_stock_allocation no lost-demand store and no warehouse goes below zero
    (the simulator itself does not clip shipments, SPEC §2)."""
    problem, policy, step = policy_step(instance)
    s = problem.structure
    rng = np.random.default_rng(seed)
    sc = random_scenarios(problem, rng, N, PERIODS)
    mean = np.asarray(problem.params.demand_mean, np.float64)
    params = policy.params_for(mean * s.store_slots * store_factor + 1e-3,
                               mean.sum() * warehouse_factor * s.warehouse_slots + 1e-3)
    state = invjax.Env(problem).reset(sc)
    for t in range(PERIODS):
        action, next_state, _ = step(params, state, sc.demand[:, t])
        w_on_hand = np.asarray(state.warehouse_inventory[:, 0, 0], np.float64)
        stores = np.asarray(action.stores, np.float64)
        tol = TOL * (1 + np.abs(w_on_hand).max())
        # Exact signs are checked in test_base_stock_allocation_rounding_residue; here
        # float32 rounding residue (~1e-8) is tolerated.
        assert stores.min() >= -tol and float(jnp.min(action.warehouses)) >= 0
        post = w_on_hand - stores.sum(-1)
        assert post.min() >= -tol, (t, post.min())
        if s.transshipment:  # the centre ships all it has whenever a store wants stock
            wants = np.asarray(action.stores).sum(-1) > 0
            np.testing.assert_allclose(post[wants], 0.0, atol=tol)
        assert float(next_state.warehouse_inventory[..., 0].min()) >= -tol
        if s.lost_demand:
            assert float(next_state.store_inventory[..., 0].min()) >= -tol
        state = next_state


def test_base_stock_allocation_rounding_residue():
    """Feasibility must survive float rounding. Proportional allocation of everything
    on hand can leave a warehouse at -6e-8 (sum of desired * W / total > W by an ulp);
    the next allocation then scales the desired orders by a negative ratio, i.e. places
    negative orders, which push a lost-demand store's on-hand below zero. Reached from a
    valid state (one_warehouse, seed 0, store levels = mean * slots, warehouse level ~0).
    """
    problem, policy, step = policy_step("one_warehouse")
    s = problem.structure
    rng = np.random.default_rng(0)
    sc = random_scenarios(problem, rng, N, PERIODS)
    mean = np.asarray(problem.params.demand_mean, np.float64)
    params = policy.params_for(mean * s.store_slots + 1e-3, 1e-3)
    state = invjax.Env(problem).reset(sc)
    for t in range(PERIODS):
        action, next_state, _ = step(params, state, sc.demand[:, t])
        w_on_hand = float(state.warehouse_inventory[..., 0].min())
        assert float(jnp.min(action.stores)) >= 0.0, (
            f"period {t}: negative store order {float(jnp.min(action.stores)):.3g} "
            f"(warehouse on-hand {w_on_hand:.3g})")
        assert float(next_state.store_inventory[..., 0].min()) >= 0.0, t
        assert float(next_state.warehouse_inventory[..., 0].min()) >= -1e-6, t
        state = next_state

    # The same mechanism, isolated: a rounding residue below zero at the warehouse.
    state = state.replace(warehouse_inventory=state.warehouse_inventory.at[:, 0, 0].set(-6e-8))
    action, _, _ = step(params, state, sc.demand[:, 0])
    assert float(jnp.min(action.stores)) >= 0.0, "negative available -> negative orders"


def test_a_centre_ships_all_it_holds_however_little_is_wanted():
    """Found by random policy parameters: desired flows of ~1e-14 (softplus of -32) made
    a transshipment centre ship 1.5% less than its on-hand when the total was divided
    as total + 1e-15. Nothing wanted ships nothing, with a finite gradient."""
    desired = jnp.asarray([[3e-14, 4e-14], [2.0, 6.0], [0.0, 0.0]], jnp.float32)
    held = jnp.asarray([44.0, 8.0, 5.0], jnp.float32)
    flows = proportional_allocation(desired, held, exact=True)
    np.testing.assert_allclose(np.asarray(flows).sum(-1), [44.0, 8.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(flows[0], [44.0 * 3 / 7, 44.0 * 4 / 7], rtol=1e-6)
    capped = proportional_allocation(desired, held)
    np.testing.assert_allclose(capped, np.asarray(desired) * [[1.0], [1.0], [0.0]])
    grad = jax.grad(lambda d: proportional_allocation(d, held, exact=True)[:, 0].sum())(desired)
    assert np.all(np.isfinite(grad)), grad


@pytest.mark.parametrize("exact", [True, False])
def test_allocation_stays_finite_when_next_to_nothing_is_wanted(exact):
    """Found in training: a centre holding 200 whose stores wanted 1e-37 in all
    (softplus of -85) shipped inf to one store and NaN to the others: 200 / 1e-37
    overflows float32. Totals below `least_wanted` count as nothing wanted; the flows
    and the gradient through a softplus stay finite on both sides of it."""
    held = jnp.asarray([200.0, 200.0, 1e6, 0.5], jnp.float32)
    floor = np.asarray(least_wanted(held))
    np.testing.assert_allclose(floor, np.sqrt(np.maximum(held, 1.0) * 1.1754944e-38),
                               rtol=1e-5)
    for total in (1e-37, 1e-30, 1e-20, 0.5 * floor[0], 2.0 * floor[0], 1e-14):
        logits = jnp.log(jnp.asarray([[total / 4, 3 * total / 4, 0.0]] * 4, jnp.float32))
        cost = lambda x: proportional_allocation(jax.nn.softplus(x), held, exact=exact)  # noqa: E731
        flows = np.asarray(cost(logits))
        assert np.all(np.isfinite(flows)) and np.all(flows >= 0), (total, flows)
        assert np.all(flows.sum(-1) <= np.asarray(held) * (1 + 1e-6)), (total, flows)
        wanted = np.asarray(jax.nn.softplus(logits)).sum(-1) >= floor
        if exact:  # all of it where anything is wanted, else nothing
            np.testing.assert_allclose(flows.sum(-1), np.where(wanted, held, 0.0), rtol=1e-5)
        grad = jax.grad(lambda x: (cost(x) * jnp.arange(1.0, 4.0)).sum())(logits)
        assert np.all(np.isfinite(grad)), (total, grad)


@given(
    instance=st.sampled_from(["serial", "serial_long"]),
    seed=seeds,
    increments=st.lists(st.floats(0.05, 20.0), min_size=5, max_size=5),
)
def test_echelon_stock_keeps_upstream_on_hand_nonnegative(instance, seed, increments):
    """Under echelon_stock no warehouse or echelon ships more than it holds."""
    problem, policy, step = policy_step(instance)
    s = problem.structure
    stages = s.n_echelons + 2
    levels = np.cumsum(np.asarray(increments[:stages])[::-1])[::-1]
    params = policy.params_for(levels)
    rng = np.random.default_rng(seed)
    sc = random_scenarios(problem, rng, N, PERIODS)
    state = invjax.Env(problem).reset(sc)
    for t in range(PERIODS):
        action, next_state, _ = step(params, state, sc.demand[:, t])
        for x in action:
            assert float(jnp.min(x)) >= 0.0
        on_hand = np.concatenate([np.asarray(state.echelon_inventory[..., 0]),
                                  np.asarray(state.warehouse_inventory[..., 0])], -1)
        shipped = np.concatenate([np.asarray(action.echelons[:, 1:]),
                                  np.asarray(action.warehouses), np.asarray(action.stores)], -1)
        post = on_hand - shipped
        tol = TOL * (1 + np.abs(on_hand).max())
        assert post.min() >= -tol, (t, post.min())
        assert float(next_state.warehouse_inventory[..., 0].min()) >= -tol
        assert float(next_state.echelon_inventory[..., 0].min()) >= -tol
        state = next_state


COST_MODE = [i for i in ALL if i != "one_warehouse_profit"]


@given(instance=st.sampled_from(COST_MODE), seed=seeds)
def test_costs_are_nonnegative_in_cost_mode(instance, seed):
    problem, step = env_step(instance)
    s = problem.structure
    assert not s.maximize_profit
    rng = np.random.default_rng(seed)
    sc = random_scenarios(problem, rng, N, 1)
    action = random_orders(s, rng)
    _, cost = step(invjax.Env(problem).reset(sc), action, sc.demand[:, 0])
    for leaf in cost:
        assert float(jnp.min(leaf, initial=0.0)) >= 0.0
    assert float(jnp.min(cost.total())) >= 0.0


@given(seed=seeds)
def test_profit_mode_is_cost_mode_minus_revenue(seed):
    """Lost demand, on-hand >= 0: -p min(x, D) = p (D - x)^+ - p D, so the profit-mode
    store cost is the cost-mode one minus p D (and the other locations agree)."""
    profit, profit_step = env_step("one_warehouse_profit")
    cost_problem = invjax.settings.make("one_warehouse", n_stores=3)
    assert cost_problem.structure.maximize_profit is False
    cost_step = jax.jit(invjax.Env(cost_problem).transition)
    rng = np.random.default_rng(seed)
    sc = random_scenarios(profit, rng, N, 1)
    action = random_orders(profit.structure, rng)
    state = invjax.Env(profit).reset(sc)
    s1, c_profit = profit_step(state, action, sc.demand[:, 0])
    s2, c_cost = cost_step(state, action, sc.demand[:, 0])
    p = np.asarray(sc.params.underage_cost, np.float64)
    d = np.asarray(sc.demand[:, 0], np.float64)
    np.testing.assert_allclose(c_profit.stores, np.asarray(c_cost.stores) - p * d,
                               rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(c_profit.warehouses, c_cost.warehouses)
    for a, b in zip(jax.tree.leaves(s1), jax.tree.leaves(s2)):
        np.testing.assert_array_equal(a, b)


@given(instance=st.sampled_from(["transshipment", "one_warehouse"]), seed=seeds)
def test_dynamics_are_store_permutation_equivariant(instance, seed):
    problem, step = env_step(instance)
    s = problem.structure
    rng = np.random.default_rng(seed)
    sc = random_scenarios(problem, rng, N, 1)
    action = random_orders(s, rng)
    perm = rng.permutation(s.n_stores)
    state = invjax.Env(problem).reset(sc)

    def permute_stores(x):
        return x[:, perm]

    store_fields = ("holding_cost", "underage_cost", "lead_time", "demand_mean", "demand_std")
    p_state = state.replace(
        store_inventory=permute_stores(state.store_inventory),
        params=state.params.replace(
            **{f: permute_stores(getattr(state.params, f)) for f in store_fields}))
    p_action = action._replace(stores=permute_stores(action.stores))
    new, cost = step(state, action, sc.demand[:, 0])
    p_new, p_cost = step(p_state, p_action, permute_stores(sc.demand[:, 0]))
    np.testing.assert_allclose(p_new.store_inventory, permute_stores(new.store_inventory),
                               rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(p_cost.stores, permute_stores(cost.stores), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(p_new.warehouse_inventory, new.warehouse_inventory,
                               rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(p_cost.warehouses, cost.warehouses, rtol=1e-6, atol=1e-4)


# ---------------------------------------------------------------------------------------
# Any network (SPEC §7): random DAGs of stores, warehouses and echelons, feasible flows.

def feasible_step(problem):
    """Jitted (desired flows, state, demand) -> (feasible action, next state): the
    desired flows made feasible by `allocate`, then one period."""
    s = problem.structure
    env = invjax.Env(problem)

    @jax.jit
    def step(desired, state, demand):
        action = allocate(s.network, state, complete_action(s, desired))
        next_state, _ = env.transition(state, action, demand)
        return action, next_state

    return step


def random_desired(network, rng):
    """Desired flows, often more than a supplier holds, some exactly zero."""
    def flows(kind, scale):
        a = rng.uniform(0.0, scale, (N, len(network.edges_into(kind)))).astype(np.float32)
        a[rng.random(a.shape) < 0.2] = 0.0
        return jnp.asarray(a)

    return invjax.Action(flows("store", 12.0), flows("warehouse", 30.0),
                         flows("echelon", 30.0))


def flows_by_edge(network, action):
    """{(source, destination): [N] flow} from an Action (edges grouped by kind)."""
    out = {}
    for kind, field in (("store", "stores"), ("warehouse", "warehouses"),
                        ("echelon", "echelons")):
        values = np.asarray(getattr(action, field), np.float64)
        for j, e in enumerate(network.edges_into(kind)):
            out[(e.source, e.destination)] = values[:, j]
    return out


def vectors_by_location(network, state):
    """{name: [N, K] inventory vector} in float64."""
    out = {}
    for loc in network.locations:
        kind, i = network.index(loc.name)
        out[loc.name] = np.asarray(getattr(state, f"{kind}_inventory"), np.float64)[:, i]
    return out


@given(seed=seeds, lost_demand=st.booleans())
def test_units_are_conserved_and_feasible_on_random_networks(seed, lost_demand):
    """Units are neither created nor destroyed (SPEC §7), per location and period and
    over the rollout for the whole network:

      initial stock + received from the supplier
          = final stock + units that left the network at the stores,

    where stock counts on-hand >= 0 and pipelines at every location and the units that
    left are the sales (lost demand: min(on-hand, demand); the unmet rest is lost, not
    owed) or, with backlogs, demand - (final backlog - initial backlog). Under feasible flows
    (`allocate`) no warehouse or echelon ships more than it holds, and no warehouse,
    echelon or lost-demand store goes below zero; a location that keeps no stock ships
    all it holds whenever anything is asked of it."""
    rng = np.random.default_rng(seed)
    network = random_network(rng)
    problem = problem_on(network, rng, lost_demand=lost_demand)
    step = feasible_step(problem)
    sc = random_scenarios(problem, rng, N, PERIODS)
    sc = sc.replace(params=random_params(problem, rng, N, edge_costs=True))
    state = invjax.Env(problem).reset(sc)
    start = vectors_by_location(network, state)
    stores = [loc.name for loc in network.of_kind("store")]
    received = np.zeros(N)
    left_at_stores = np.zeros(N)  # lost: sales; backlogged: demand
    for t in range(PERIODS):
        desired = random_desired(network, rng)
        action, next_state = step(desired, state, sc.demand[:, t])
        before, after = vectors_by_location(network, state), vectors_by_location(
            network, next_state)
        flows, asked = flows_by_edge(network, action), flows_by_edge(network, desired)
        demand = dict(zip(stores, np.asarray(sc.demand[:, t], np.float64).T))
        scale = 1.0 + max(np.abs(v).max() for v in before.values()) + 30.0
        tol = TOL * scale
        assert min(f.min() for f in flows.values()) >= -tol, f"negative flow, period {t}"
        for loc in network.locations:
            name = loc.name
            inbound = sum(f for (a, b), f in flows.items() if b == name)
            outbound = sum((f for (a, b), f in flows.items() if a == name), np.zeros(N))
            on_hand = before[name][:, 0]
            if loc.kind == "store":
                outbound = np.minimum(on_hand, demand[name]) if lost_demand else demand[name]
                left_at_stores += outbound
            else:
                post = on_hand - outbound
                assert post.min() >= -tol, f"{name} shipped more than it held, period {t}"
                wanted = sum((f for (a, _), f in asked.items() if a == name), np.zeros(N)) > 0
                if not loc.keeps_stock:
                    np.testing.assert_allclose(post[wanted], 0.0, atol=tol,
                                               err_msg=f"{name} kept stock, period {t}")
            np.testing.assert_allclose(
                before[name].sum(-1) + inbound - outbound, after[name].sum(-1), atol=tol,
                err_msg=f"{name}: position balance, period {t}")
            if loc.kind != "store" or lost_demand:
                assert after[name][:, 0].min() >= -tol, f"{name} below zero, period {t}"
        received += sum(f for (a, _), f in flows.items() if a == SUPPLIER)
        state = next_state
    end = vectors_by_location(network, state)
    stock = lambda v: np.maximum(v[:, 0], 0.0) + v[:, 1:].sum(-1)  # noqa: E731
    backlog = lambda v: np.maximum(-v[:, 0], 0.0)  # noqa: E731
    initial, final = (sum(stock(v[n]) for n in v) for v in (start, end))
    if lost_demand:
        left = left_at_stores
    else:
        left = left_at_stores - sum(backlog(end[n]) - backlog(start[n]) for n in stores)
    scale = 1.0 + initial.max() + received.max()
    np.testing.assert_allclose(initial + received, final + left, atol=TOL * scale,
                               err_msg="network-wide conservation over the rollout")
