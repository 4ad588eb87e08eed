"""invjax's dynamics and rollout on any network against the SPEC §7 NumPy oracle.

Cases: every instance of `conftest.INSTANCES` (the settings, new ones included as they
are added there), the authors' 2 warehouses x 10 stores network built from SPEC §7's
table, and random networks (`random_networks.random_network`: stores fed by several
warehouses or by the supplier and a warehouse, warehouse -> echelon edges, widths and
lead times at random). Inputs are random: per-edge flows, per-scenario lead times in
1..width and costs (edge costs included), inventories (negative store on-hand only when
backlogged), demands. The oracle is `reference_network.py`; on the five v2 settings it
is also checked against the older SPEC §2 oracle `reference_sim.py` (which
test_conformance.py runs against their rollouts, so rollouts here cover the rest).

References: SPEC §1, §2, §7.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import invjax
from conftest import (INSTANCES, make_instance, random_demand, random_inventories,
                      random_params, reference_params)
from invjax.policies import Policy
from random_networks import many_warehouses_problem, problem_on, random_network
from reference_network import KINDS, FLOWS, reference_network_step
from reference_sim import reference_reported_cost, reference_step

RTOL = ATOL = 1e-5
V2_SETTINGS = ("one_store_backlogged", "one_store_lost", "serial", "transshipment",
               "one_warehouse")
RANDOM_SEEDS = range(6)
CASES = ([f"instance:{i}" for i in INSTANCES] + ["many_warehouses_2x10"]
         + [f"random:{seed}" for seed in RANDOM_SEEDS])
# Rollouts of the v2 settings are checked against the SPEC §2 oracle in
# test_conformance.py, and the two oracles agree on them (below): not repeated here.
ROLLOUT_CASES = [c for c in CASES
                 if not (c.startswith("instance:") and INSTANCES[c[9:]][0] in V2_SETTINGS)]


@functools.cache
def case_problem(case: str) -> invjax.Problem:
    if case.startswith("instance:"):
        return make_instance(case.split(":", 1)[1])
    if case == "many_warehouses_2x10":
        return many_warehouses_problem()
    seed = int(case.split(":", 1)[1])
    rng = np.random.default_rng(1000 + seed)
    network = random_network(rng)
    # Even seeds: lost demand, odd: backlogged; seed 4 is in profit mode.
    return problem_on(network, rng, lost_demand=seed % 2 == 0, maximize_profit=seed == 4)


def close(got, want, what, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=atol,
                               err_msg=what)


def close_scaled(got, want, what):
    """float32 vs float64: the absolute tolerance scales with the largest magnitude."""
    want = np.asarray(want, np.float64)
    close(got, want, what, atol=ATOL * max(1.0, float(np.abs(want).max(initial=0.0))))


def edge_counts(structure) -> dict:
    return {kind: len(structure.network.edges_into(kind)) for kind in KINDS}


def random_flows(structure, rng, n) -> dict:
    """Nonnegative flows {kind: [n, edges into kind]}, some exactly zero."""
    flows = {}
    for kind, m in edge_counts(structure).items():
        a = rng.uniform(0.0, 8.0 if kind == "store" else 30.0, (n, m))
        a[rng.random(a.shape) < 0.2] = 0.0
        flows[kind] = a.astype(np.float32)
    return flows


def as_action(flows: dict) -> invjax.Action:
    return invjax.Action(**{FLOWS[k]: jnp.asarray(v) for k, v in flows.items()})


def random_start(problem, rng, n, periods, ignore_periods=0):
    """Scenarios with random inventories, demand and per-scenario edge parameters."""
    store, warehouse, echelon = random_inventories(problem, rng, n)
    params = random_params(problem, rng, n, edge_costs=True)
    return invjax.scenarios.from_arrays(
        problem, random_demand(problem, rng, n, periods), store, warehouse, echelon,
        params=params, ignore_periods=ignore_periods)


def inventories(state_like) -> dict:
    return {k: np.asarray(getattr(state_like, f"{k}_inventory"), np.float64) for k in KINDS}


def test_cases_reach_every_kind_of_topology():
    """The fixed case list reaches the topologies the dynamics treat differently."""
    topologies = {case_problem(c).structure.network.topology for c in CASES}
    assert {"one_store", "serial", "one_warehouse", "transshipment", "many_warehouses",
            "general"} <= topologies, topologies
    random_nets = [case_problem(f"random:{s}").structure.network for s in RANDOM_SEEDS]
    assert any(not net.one_inbound_in_order(k) for net in random_nets for k in KINDS)


@pytest.mark.parametrize("case", CASES)
def test_one_period_matches_reference(case):
    problem = case_problem(case)
    s = problem.structure
    rng = np.random.default_rng(0)
    n = 32
    sc = random_start(problem, rng, n, 1)
    state = invjax.Env(problem).reset(sc)
    flows = random_flows(s, rng, n)
    demand = np.asarray(sc.demand[:, 0])
    next_state, cost = jax.jit(invjax.Env(problem).transition)(state, as_action(flows), demand)
    new, want = reference_network_step(s, inventories(sc), flows, demand, sc.params)
    for kind in KINDS:
        close(getattr(next_state, f"{kind}_inventory"), new[kind], f"{case}: {kind} inventory")
        close(getattr(cost, FLOWS[kind]), want[kind], f"{case}: {kind} cost")
    close(cost.total(), sum(want[k].sum(-1) for k in KINDS), f"{case}: total")


@pytest.mark.parametrize("instance", [i for i, (name, _) in INSTANCES.items()
                                      if name in V2_SETTINGS])
def test_general_oracle_agrees_with_the_spec2_oracle(instance):
    """On the five v2 settings the SPEC §7 oracle and the SPEC §2 oracle are one model
    (edge costs into stores and echelons, which SPEC §2 lacks, stay zero)."""
    problem = make_instance(instance)
    s = problem.structure
    rng = np.random.default_rng(3)
    n = 16
    store, warehouse, echelon = random_inventories(problem, rng, n)
    params = random_params(problem, rng, n)
    flows = random_flows(s, rng, n)
    demand = random_demand(problem, rng, n, 1)[:, 0]
    new, cost = reference_network_step(
        s, {"store": store, "warehouse": warehouse, "echelon": echelon}, flows, demand,
        params)
    old = reference_step(store, warehouse, echelon, flows["store"], flows["warehouse"],
                         flows["echelon"], demand, **reference_params(s, params))
    for k, kind in enumerate(KINDS):
        np.testing.assert_allclose(new[kind], old[k], rtol=1e-12, atol=1e-9,
                                   err_msg=f"{kind} inventory")
        np.testing.assert_allclose(cost[kind], old[3 + k], rtol=1e-12, atol=1e-9,
                                   err_msg=f"{kind} cost")


# ---------------------------------------------------------------------------------------
# Rollouts.

def random_flow_policy(structure, seed):
    """A random state-dependent policy, the same code in NumPy and JAX: flows on every
    edge in [0, scale], a smooth function of all inventories and of the period."""
    counts = edge_counts(structure)
    rng = np.random.default_rng(seed)
    widths = sum(structure.network.count(k) * structure.network.width(k) for k in KINDS)
    outputs = sum(counts.values())
    w = rng.normal(size=(widths, outputs)) * 0.05 / np.sqrt(widths)
    b = rng.uniform(0, 2 * np.pi, outputs)
    c = rng.normal(size=outputs)
    scale = np.concatenate([np.full(counts[k], 12.0 if k == "store" else 25.0) for k in KINDS])
    splits = np.cumsum([counts[k] for k in KINDS])[:-1]

    def flows(xp, inv, t):
        n = inv["store"].shape[0]
        flat = xp.concatenate([inv[k].reshape(n, -1) for k in KINDS], -1)
        out = scale * (1.0 + xp.sin(flat @ w + b + c * (t % 3))) / 2.0
        return dict(zip(KINDS, xp.split(out, splits, axis=-1)))

    def apply(params, obs):
        del params
        inv = {k: getattr(obs, f"{k}_inventory") for k in KINDS}
        return as_action(flows(jnp, inv, obs.period.astype(jnp.float32)))

    return Policy(init=lambda key: {}, apply=apply), lambda inv, t: flows(np, inv, float(t))


def run_reference(problem, sc, policy_fn):
    """The oracle's rollout: per-kind costs [n, T, m], flows [n, T, edges], final state."""
    s = problem.structure
    inv, demand = inventories(sc), np.asarray(sc.demand, np.float64)
    costs, flows = {k: [] for k in KINDS}, {k: [] for k in KINDS}
    for t in range(demand.shape[1]):
        flow = policy_fn(inv, t)
        inv, cost = reference_network_step(s, inv, flow, demand[:, t], sc.params)
        for k in KINDS:
            costs[k].append(cost[k])
            flows[k].append(np.asarray(flow[k], np.float64))
    stack = lambda d: {k: np.stack(v, 1) for k, v in d.items()}  # noqa: E731
    return stack(costs), stack(flows), inv


def compare(problem, sc, res, reference, what):
    costs, flows, final = reference
    for kind in KINDS:
        close_scaled(getattr(res.actions, FLOWS[kind]), flows[kind], f"{what}: {kind} flows")
        close_scaled(getattr(res.location_cost, FLOWS[kind]), costs[kind],
                     f"{what}: {kind} costs")
        close_scaled(getattr(res.final_state, f"{kind}_inventory"), final[kind],
                     f"{what}: final {kind} inventory")
    total = sum(costs[k].sum(-1) for k in KINDS)
    close_scaled(res.cost, total, f"{what}: cost per period")
    n_stores = problem.structure.n_stores
    close(res.mean_cost, reference_reported_cost(total, n_stores, sc.ignore_periods),
          f"{what}: mean_cost after the warm-up", atol=ATOL * max(1.0, abs(total).max()))
    assert int(res.final_state.period) == sc.periods


@pytest.mark.parametrize("case", ROLLOUT_CASES)
def test_rollout_of_random_policy_matches_reference(case):
    """simulate(record=True) of a state-dependent policy, closed loop (the oracle runs
    its own NumPy copy of the policy) and replaying invjax's recorded flows."""
    problem = case_problem(case)
    policy, numpy_fn = random_flow_policy(problem.structure, seed=5)
    rng = np.random.default_rng(21)
    sc = random_start(problem, rng, 6, 16, ignore_periods=4)
    res = invjax.simulate(problem, policy, {}, sc, record=True)
    assert res.cost.shape == (6, 16)
    compare(problem, sc, res, run_reference(problem, sc, numpy_fn), f"{case} closed loop")
    recorded = {k: np.asarray(getattr(res.actions, FLOWS[k]), np.float64) for k in KINDS}
    replay = lambda inv, t: {k: recorded[k][:, t] for k in KINDS}  # noqa: E731
    compare(problem, sc, res, run_reference(problem, sc, replay), f"{case} replayed flows")
