"""invjax's dynamics and rollout against the independent NumPy oracle (SPEC §1-§3).

Every setting of `invjax.settings.names()` is exercised on small instances with random
states (negative store on-hand where demand is backlogged), random nonnegative orders,
random demands and random per-scenario lead times in 1..slots (and per-scenario costs),
in cost and profit mode, lost and backlogged demand.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import invjax
from conftest import (INSTANCES, make_instance, random_scenarios, reference_params,
                      softplus, spec2_oracle_fits)
from invjax.policies import Policy
from reference_sim import reference_reported_cost, reference_rollout, reference_step

IDS = [i for i in INSTANCES if spec2_oracle_fits(make_instance(i).structure)]
RTOL = ATOL = 1e-5


def close(got, want, what, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=atol,
                               err_msg=what)


def test_every_setting_has_an_instance():
    covered = {name for name, _ in INSTANCES.values()}
    assert set(invjax.settings.names()) <= covered, set(invjax.settings.names()) - covered
    # Both modes and both demand rules are covered.
    structures = [make_instance(i).structure for i in IDS]
    assert {s.lost_demand for s in structures} == {False, True}
    assert {s.maximize_profit for s in structures} == {False, True}
    assert any(s.store_slots == 1 for s in structures)


def random_action(structure, rng, n):
    def orders(m, scale):
        a = rng.uniform(0.0, scale, (n, m))
        a[rng.random(a.shape) < 0.2] = 0.0
        return a.astype(np.float32)

    return (orders(structure.n_stores, 8.0), orders(structure.n_warehouses, 30.0),
            orders(structure.n_echelons, 30.0))


def as_action(structure, store, warehouse, echelon):
    return invjax.Action(
        stores=jnp.asarray(store),
        warehouses=jnp.asarray(warehouse) if structure.n_warehouses else None,
        echelons=jnp.asarray(echelon) if structure.n_echelons else None,
    )


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("instance", IDS)
def test_step_matches_reference(instance, seed):
    problem = make_instance(instance)
    s = problem.structure
    env = invjax.Env(problem)
    rng = np.random.default_rng(seed)
    n = 32
    sc = random_scenarios(problem, rng, n, 1)
    state = env.reset(sc)
    orders = random_action(s, rng, n)
    demand = sc.demand[:, 0]

    next_state, cost = jax.jit(env.transition)(state, as_action(s, *orders), demand)
    step_state, total = jax.jit(env.step)(state, as_action(s, *orders), demand)

    ref = reference_step(
        np.asarray(sc.store_inventory), np.asarray(sc.warehouse_inventory),
        np.asarray(sc.echelon_inventory), *orders, np.asarray(demand),
        **reference_params(s, sc.params))
    new_s, new_w, new_e, cost_s, cost_w, cost_e = ref
    assert isinstance(cost, invjax.LocationCost)
    close(next_state.store_inventory, new_s, "store inventory")
    close(next_state.warehouse_inventory, new_w, "warehouse inventory")
    close(next_state.echelon_inventory, new_e, "echelon inventory")
    close(cost.stores, cost_s, "store cost")
    close(cost.warehouses, cost_w, "warehouse cost")
    close(cost.echelons, cost_e, "echelon cost")
    want_total = cost_s.sum(-1) + cost_w.sum(-1) + cost_e.sum(-1)
    close(cost.total(), want_total, "LocationCost.total")
    close(total, want_total, "Env.step cost")
    for a, b in zip(jax.tree.leaves(step_state), jax.tree.leaves(next_state)):
        np.testing.assert_array_equal(a, b)
    assert int(next_state.period) == int(state.period) + 1 == 1
    for a, b in zip(jax.tree.leaves(next_state.params), jax.tree.leaves(sc.params)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("instance", ["serial_long"])
def test_step_is_jittable_and_matches_eager(instance):
    problem = make_instance(instance)
    s = problem.structure
    env = invjax.Env(problem)
    rng = np.random.default_rng(7)
    sc = random_scenarios(problem, rng, 8, 1)
    state = env.reset(sc)
    action = as_action(s, *random_action(s, rng, 8))
    eager = env.step(state, action, sc.demand[:, 0])
    jitted = jax.jit(env.step)(state, action, sc.demand[:, 0])
    for a, b in zip(jax.tree.leaves(eager), jax.tree.leaves(jitted)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_hand_worked_serial_period():
    """SPEC §2 on the oracle's worked serial example, through invjax end to end."""
    problem = invjax.settings.make(
        "serial", upstream_lead_times=[2, 1, 3], upstream_holding_costs=[0.1, 0.2, 0.5],
        lead_time=2)
    params = problem.params.replace(
        warehouse_procurement_cost=jnp.array([0.1], jnp.float32))
    params = invjax.scenarios.per_scenario(params, 1)
    store = np.array([[[3, 4, 1, 0]]], np.float32)
    warehouse = np.array([[[8, 1, 0]]], np.float32)
    echelon = np.array([[[10, 3], [6, 0]]], np.float32)
    sc = invjax.scenarios.from_arrays(problem, np.full((1, 1, 1), 5.0), store, warehouse,
                                      echelon, params=params)
    env = invjax.Env(problem)
    action = invjax.Action(jnp.array([[2.0]]), jnp.array([[6.0]]), jnp.array([[4.0, 5.0]]))
    new, cost = jax.jit(env.transition)(env.reset(sc), action, sc.demand[:, 0])
    np.testing.assert_allclose(new.store_inventory[0, 0], [2, 3, 0, 0])
    np.testing.assert_allclose(new.warehouse_inventory[0, 0], [7, 0, 6])
    np.testing.assert_allclose(new.echelon_inventory[0], [[8, 4], [5, 0]])
    np.testing.assert_allclose(cost.stores, [[18.0]])
    np.testing.assert_allclose(cost.warehouses, [[3.6]], rtol=1e-6)
    np.testing.assert_allclose(cost.echelons, [[0.5, 0.0]], rtol=1e-6)


def test_order_arrives_after_exactly_lead_time():
    """An order placed in period t is on hand at the start of t+L (SPEC §1)."""
    for lead in (1, 2, 4):
        problem = invjax.settings.make("one_store_backlogged", lead_time=lead)
        s = problem.structure
        env = invjax.Env(problem)
        sc = invjax.scenarios.from_arrays(
            problem, np.zeros((1, 8, 1)), np.zeros((1, 1, s.store_slots)))
        state = env.reset(sc)
        step = jax.jit(env.step)
        for t in range(6):
            order = jnp.array([[7.0 if t == 0 else 0.0]])
            assert float(state.store_inventory[0, 0, 0]) == (7.0 if t >= lead else 0.0), (
                lead, t)
            state, _ = step(state, invjax.Action(order), sc.demand[:, t])


# ---------------------------------------------------------------------------------------
# Rollouts.

def numpy_heuristic(problem, params):
    """Independent NumPy versions of the SPEC §4 heuristics with invjax's levels."""
    s = problem.structure
    name = s.network.topology
    if name in ("one_store", "independent_stores"):
        level = softplus(params["level"])

        def fn(si, wi, ei, t):
            n = si.shape[0]
            return (np.maximum(level - si.sum(-1), 0.0), np.zeros((n, 0)), np.zeros((n, 0)))
        return fn
    if name == "serial":
        levels = np.cumsum(softplus(params["increment"])[::-1])[::-1]

        def fn(si, wi, ei, t):
            local = np.concatenate([ei.sum(-1), wi.sum(-1), si.sum(-1)], -1)
            position = np.cumsum(local[:, ::-1], -1)[:, ::-1]
            order = np.maximum(levels - position, 0.0)
            on_hand = np.concatenate([ei[..., 0], wi[..., 0], si[..., 0]], -1)
            order[:, 1:] = np.minimum(order[:, 1:], np.maximum(on_hand[:, :-1], 0.0))
            e = s.n_echelons
            return order[:, -1:], order[:, e:e + 1], order[:, :e]
        return fn
    store_level = softplus(params["store_level"])
    warehouse_level = softplus(params["warehouse_level"])

    def fn(si, wi, ei, t):
        position = si.sum(-1)
        desired = np.maximum(store_level - position, 0.0)
        available = wi[:, 0, 0]
        total = desired.sum(-1)
        ratio = np.divide(available, total, out=np.zeros_like(total), where=total > 0)
        if not s.transshipment:
            ratio = np.minimum(ratio, 1.0)
        stores = desired * ratio[:, None]
        system = wi[:, 0].sum(-1) + position.sum(-1)
        return stores, np.maximum(warehouse_level - system, 0.0)[:, None], np.zeros((len(si), 0))
    return fn


def heuristic(problem):
    s = problem.structure
    mean = np.asarray(problem.params.demand_mean, np.float64)
    if s.network.topology in ("one_store", "independent_stores"):
        pol = invjax.policies.base_stock(problem)
        return pol, pol.params_for(float(mean[0]) * (s.store_slots + 1) + 3.0)
    if s.network.topology == "serial":
        pol = invjax.policies.echelon_stock(problem)
        stages = s.n_echelons + 2
        return pol, pol.params_for(np.linspace(12.0 * stages, 14.0, stages))
    pol = invjax.policies.base_stock_allocation(problem)
    store_level = mean * (s.store_slots + 1) + 2.0
    return pol, pol.params_for(store_level, store_level.sum() + 4.0 * mean.sum())


def random_policy(problem, seed):
    """A random but state-deterministic policy, same code in NumPy and JAX.

    Orders in [0, scale] are a smooth function of the whole flattened state and of the
    period index (so that float32 vs float64 trajectories stay close)."""
    s = problem.structure
    rng = np.random.default_rng(seed)
    widths = (s.n_stores * s.store_slots + s.n_warehouses * s.warehouse_slots
              + s.n_echelons * s.echelon_slots)
    outputs = s.n_stores + s.n_warehouses + s.n_echelons
    w = rng.normal(size=(widths, outputs)) * 0.05 / np.sqrt(widths)
    b = rng.uniform(0, 2 * np.pi, outputs)
    c = rng.normal(size=outputs)
    scale = np.concatenate([np.full(s.n_stores, 12.0), np.full(s.n_warehouses, 25.0),
                            np.full(s.n_echelons, 25.0)])

    def orders(xp, si, wi, ei, t):
        n = si.shape[0]
        flat = xp.concatenate([si.reshape(n, -1), wi.reshape(n, -1), ei.reshape(n, -1)], -1)
        z = flat @ w + b + c * (t % 3)
        out = scale * (1.0 + xp.sin(z)) / 2.0
        k, m = s.n_stores, s.n_stores + s.n_warehouses
        return out[:, :k], out[:, k:m], out[:, m:]

    def apply(params, obs):
        del params
        st, wh, ec = orders(jnp, obs.store_inventory, obs.warehouse_inventory,
                            obs.echelon_inventory, obs.period.astype(jnp.float32))
        return invjax.Action(stores=st, warehouses=wh if s.n_warehouses else None,
                             echelons=ec if s.n_echelons else None)

    def numpy_fn(si, wi, ei, t):
        return orders(np, si, wi, ei, float(t))

    return Policy(init=lambda key: {}, apply=apply), numpy_fn


def run_reference(problem, sc, policy_fn):
    """reference_rollout plus the recorded orders and the final state."""
    s = problem.structure
    kwargs = reference_params(s, sc.params)
    record = {"orders": [], "states": []}

    def recording(si, wi, ei, t):
        out = policy_fn(si, wi, ei, t)
        record["orders"].append(out)
        record["states"].append((si, wi, ei))
        return out

    total, cs, cw, ce = reference_rollout(
        recording, np.asarray(sc.store_inventory), np.asarray(sc.warehouse_inventory),
        np.asarray(sc.echelon_inventory), np.asarray(sc.demand), **kwargs)
    si, wi, ei = record["states"][-1]
    final = reference_step(si, wi, ei, *record["orders"][-1],
                           np.asarray(sc.demand[:, -1]), **kwargs)[:3]
    orders = [np.stack([o[k] for o in record["orders"]], 1) for k in range(3)]
    return total, (cs, cw, ce), orders, final


def close_scaled(got, want, what, rtol=RTOL):
    """float32 vs float64: the absolute error of a difference scales with its operands,
    so the absolute tolerance is relative to the array's largest magnitude."""
    want = np.asarray(want, np.float64)
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    close(got, want, what, rtol=rtol, atol=ATOL * scale)


def replay(actions):
    """A reference policy that replays invjax's recorded orders period by period."""
    arrays = [np.asarray(a, np.float64) for a in actions]

    def fn(si, wi, ei, t):
        return tuple(a[:, t] for a in arrays)
    return fn


def compare(res, reference, what, periods):
    total, (cs, cw, ce), orders, final = reference
    for name, got, want in [
        ("actions.stores", res.actions.stores, orders[0]),
        ("actions.warehouses", res.actions.warehouses, orders[1]),
        ("actions.echelons", res.actions.echelons, orders[2]),
        ("location_cost.stores", res.location_cost.stores, cs),
        ("location_cost.warehouses", res.location_cost.warehouses, cw),
        ("location_cost.echelons", res.location_cost.echelons, ce),
        ("cost", res.cost, total),
        ("final store inventory", res.final_state.store_inventory, final[0]),
        ("final warehouse inventory", res.final_state.warehouse_inventory, final[1]),
        ("final echelon inventory", res.final_state.echelon_inventory, final[2]),
    ]:
        close_scaled(got, want, f"{what}: {name}")
    assert int(res.final_state.period) == periods


def check_rollout(problem, policy, params, policy_fn, seed, *, closed_loop=True,
                  policy_rtol=RTOL):
    """simulate(record=True) vs the oracle, period by period.

    closed_loop: the oracle runs its own NumPy policy (fully independent); otherwise
    it replays invjax's orders (a tight check of the dynamics) and the NumPy policy is
    checked on the oracle's states with `policy_rtol` (for policies whose float32
    evaluation is ill-conditioned, e.g. the transshipment centre's exact allocation,
    where desired orders near 0 are scaled up by on-hand / sum(desired)).
    """
    s = problem.structure
    rng = np.random.default_rng(seed)
    n, periods, ignore = 8, 24, 6
    sc = random_scenarios(problem, rng, n, periods, ignore_periods=ignore)
    res = invjax.simulate(problem, policy, params, sc, record=True)
    assert res.cost.shape == (n, periods)
    if closed_loop:
        reference = run_reference(problem, sc, policy_fn)
        compare(res, reference, "closed loop", periods)
    else:
        reference = run_reference(problem, sc, replay(res.actions))
        compare(res, reference, "replayed orders", periods)
        states = []
        run_reference(problem, sc, lambda si, wi, ei, t: (
            states.append(policy_fn(si, wi, ei, t)), replay(res.actions)(si, wi, ei, t))[1])
        for k, field in enumerate(["stores", "warehouses", "echelons"]):
            want = np.stack([o[k] for o in states], 1)
            scale = max(1.0, float(np.abs(want).max(initial=0.0)))
            close(getattr(res.actions, field), want, f"policy {field} on oracle states",
                  rtol=policy_rtol, atol=policy_rtol * scale)
    total = reference[0]
    # Reported cost (SPEC §3) with the scenarios' warm-up.
    close(res.mean_cost, reference_reported_cost(total, s.n_stores, ignore),
          "mean_cost (scenarios' ignore_periods)")


@pytest.mark.parametrize("instance", IDS)
def test_rollout_heuristic_matches_reference(instance):
    problem = make_instance(instance)
    policy, params = heuristic(problem)
    exact_allocation = problem.structure.transshipment
    check_rollout(problem, policy, params, numpy_heuristic(problem, params), seed=11,
                  closed_loop=not exact_allocation,
                  policy_rtol=1e-3 if exact_allocation else RTOL)


@pytest.mark.parametrize("instance", IDS)
def test_rollout_random_policy_matches_reference(instance):
    problem = make_instance(instance)
    policy, numpy_fn = random_policy(problem, seed=5)
    check_rollout(problem, policy, {}, numpy_fn, seed=12)


@pytest.mark.parametrize("instance", ["one_warehouse_profit", "serial_long"])
def test_reported_cost_and_hindsight_cost(instance):
    """mean_cost for explicit ignore_periods overrides, and the training loss (all
    periods), against reference_reported_cost on the oracle's closed-loop costs."""
    problem = make_instance(instance)
    s = problem.structure
    policy, numpy_fn = random_policy(problem, seed=9)
    rng = np.random.default_rng(4)
    periods = 12
    sc = random_scenarios(problem, rng, 6, periods, ignore_periods=3)
    total = run_reference(problem, sc, numpy_fn)[0]
    for k in (periods - 1,):
        got = invjax.simulate(problem, policy, {}, sc, ignore_periods=k, record=False)
        close(got.mean_cost, reference_reported_cost(total, s.n_stores, k),
              f"mean_cost (ignore_periods={k})")
    got = invjax.simulate(problem, policy, {}, sc, record=False)
    close(got.mean_cost, reference_reported_cost(total, s.n_stores, 3), "default warm-up")
    close(invjax.hindsight_cost(problem, policy, {}, sc),
          reference_reported_cost(total, s.n_stores, 0), "hindsight_cost")


def test_rollout_from_sampled_scenarios_matches_reference():
    """The usual path: `scenarios.sample` (instance parameters) plus a heuristic."""
    problem = make_instance("one_warehouse")
    policy, params = heuristic(problem)
    sc = invjax.scenarios.sample(problem, jax.random.key(3), 16, 30, ignore_periods=10)
    res = invjax.simulate(problem, policy, params, sc)
    total, _, _, _ = run_reference(problem, sc, numpy_heuristic(problem, params))
    close(res.cost, total, "cost", rtol=1e-5, atol=1e-4)
    close(res.mean_cost, reference_reported_cost(total, problem.structure.n_stores, 10),
          "mean_cost", rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------
# Sampled demand (the input of every rollout).

@pytest.mark.parametrize("ar_coefficient", [0.0, 0.5])
def test_sampled_normal_demand_shape_and_moments(ar_coefficient):
    """scenarios.sample gives demand [n, T, stores] with the model's mean, std, store
    correlation and (Demand.ar_coefficient) lag-1 autocorrelation. Unclipped normal
    (transshipment) so that the moments are exact."""
    import dataclasses

    base = invjax.settings.make("transshipment", n_stores=3, correlation=0.5)
    demand_model = dataclasses.replace(base.structure.demand, ar_coefficient=ar_coefficient)
    problem = invjax.Problem(
        structure=dataclasses.replace(base.structure, demand=demand_model),
        params=base.params)
    n, periods = 256, 64
    sc = invjax.scenarios.sample(problem, jax.random.key(11), n, periods)
    assert sc.demand.shape == (n, periods, 3)
    d = np.asarray(sc.demand, np.float64)
    mean = np.asarray(base.params.demand_mean, np.float64)
    std = np.asarray(base.params.demand_std, np.float64)
    z = (d - mean) / std
    np.testing.assert_allclose(z.mean(axis=(0, 1)), 0.0, atol=0.08)
    np.testing.assert_allclose(z.std(axis=(0, 1)), 1.0, atol=0.05)
    corr = np.corrcoef(z.reshape(-1, 3).T)
    np.testing.assert_allclose(corr[np.triu_indices(3, 1)], 0.5, atol=0.05)
    lag1 = (z[:, 1:] * z[:, :-1]).mean() / (z * z).mean()
    assert lag1 == pytest.approx(ar_coefficient, abs=0.05)
    # Independent scenarios: no correlation across the scenario axis.
    across = (z[1:] * z[:-1]).mean() / (z * z).mean()
    assert abs(across) < 0.05
