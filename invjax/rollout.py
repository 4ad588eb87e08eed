"""Rolling a policy through all periods of a batch of scenarios (`lax.scan` over time).

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Sections 3-4 (hindsight cost).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp

from invjax.dynamics import RESIDUAL, Action, Env, LocationCost, State, complete_action
from invjax.problem import Problem, Structure
from invjax.scenarios import Scenarios


class SimulationResult(NamedTuple):
    """What `simulate` returns."""

    mean_cost: jnp.ndarray  # [] cost per store per period after warm-up (paper's number)
    cost: Optional[jnp.ndarray]  # [n, T] total per scenario and period (record=True)
    location_cost: Optional[LocationCost]  # leaves [n, T, locations] (record=True)
    actions: Optional[Action]  # leaves [n, T, locations] (record=True)
    final_state: State
    extras: Any = None  # leaves [n, T, ...]: what a stochastic policy's `sample` returned


def _validate(structure: Structure, scenarios: Scenarios, ignore_periods: int) -> None:
    s = structure
    expected = {
        "demand": (scenarios.n, scenarios.periods, s.n_stores),
        "store_inventory": (scenarios.n, s.n_stores, s.store_slots),
        "warehouse_inventory": (scenarios.n, s.n_warehouses, s.warehouse_slots),
        "echelon_inventory": (scenarios.n, s.n_echelons, s.echelon_slots),
        "past_demand": (scenarios.n, s.n_stores, s.demand_history),
    }
    for field, shape in expected.items():
        got = tuple(getattr(scenarios, field).shape)
        if got != shape:
            raise ValueError(f"scenarios.{field}: expected shape {list(shape)}, got {list(got)}")
    if not 0 <= ignore_periods < scenarios.periods:
        raise ValueError(
            f"ignore_periods: must lie in 0..{scenarios.periods - 1}, got {ignore_periods}"
        )


CHUNK = 50  # periods per inner scan; demand is made time-major one chunk at a time
SAVE_TAGGED = jax.checkpoint_policies.save_only_these_names(RESIDUAL)


def _scan_periods(period, carry, demand):
    """`lax.scan` of `period` over the periods of demand [n, T, S].

    The scan wants time-major demand; transposing all of [n, T, S] at once costs a copy
    as large as the demand (655 MB for the test split), fetched one strided column per
    period. Instead, an outer scan takes `CHUNK` periods at a time ([n, CHUNK, S]
    slices, contiguous rows) and transposes only those.
    """
    time_major = lambda d: jnp.swapaxes(d, 0, 1)  # noqa: E731
    periods = demand.shape[1]
    chunks, rest = divmod(periods, CHUNK)
    if chunks <= 1:
        return jax.lax.scan(period, carry, time_major(demand))

    def chunk(carry, start):
        block = jax.lax.dynamic_slice_in_dim(demand, start, CHUNK, axis=1)
        return jax.lax.scan(period, carry, time_major(block))

    carry, out = jax.lax.scan(chunk, carry, jnp.arange(chunks) * CHUNK)
    out = jax.tree.map(lambda x: x.reshape((chunks * CHUNK,) + x.shape[2:]), out)
    if rest:
        carry, tail = jax.lax.scan(period, carry, time_major(demand[:, chunks * CHUNK:]))
        out = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), out, tail)
    return carry, out


def _cut_gradient(state: State, backprop_periods: Optional[int]) -> State:
    """The state, through which no gradient flows back at every `backprop_periods`-th
    period (truncated backpropagation through time); unchanged for None."""
    if backprop_periods is None:
        return state
    cut = state.period % backprop_periods == 0
    detach = lambda x: jnp.where(cut, jax.lax.stop_gradient(x), x)  # noqa: E731
    return state.replace(
        store_inventory=detach(state.store_inventory),
        warehouse_inventory=detach(state.warehouse_inventory),
        echelon_inventory=detach(state.echelon_inventory),
    )


@functools.partial(jax.jit, static_argnames=("structure", "policy", "ignore_periods", "record",
                                             "backprop_periods"))
def _simulate(structure, policy, params, scenarios, ignore_periods, record, key=None,
              backprop_periods=None):
    env = Env(structure)
    periods = scenarios.periods

    def period(carry, demand_t):
        state, total, key = carry
        state = _cut_gradient(state, backprop_periods)
        state = state.replace(params=scenarios.params)  # loop-invariant: not carried
        if key is None:
            action, extra = complete_action(structure, policy.apply(params, state)), None
        else:  # a stochastic policy: one key per period, split off the carried one
            key, key_t = jax.random.split(key)
            action, extra = policy.sample(params, state, key_t)
        next_state, cost = env.transition(state, action, demand_t)
        counted = state.period >= ignore_periods
        total = jax.tree.map(lambda a, c: a + jnp.where(counted, c, 0.0), total, cost)
        out = (cost, action, extra) if record else None
        return (next_state.replace(params=None), total, key), out

    state = env.reset(scenarios).replace(params=None)
    n = scenarios.n
    zero = LocationCost(
        jnp.zeros((n, structure.n_stores)),
        jnp.zeros((n, structure.n_warehouses)),
        jnp.zeros((n, structure.n_echelons)),
    )
    if any(jnp.ndim(leaf) >= 2 for leaf in jax.tree.leaves(params)):
        # A policy with weight matrices: under differentiation keep per period only the
        # carry and what the policy tagged `RESIDUAL`, and recompute the rest of the
        # period in the backward pass (the activations of narrow layers would cost more
        # memory traffic than they save). Policies without (heuristics) store their few
        # intermediates: recomputing their period would cost more than keeping them.
        period = jax.checkpoint(period, policy=SAVE_TAGGED, prevent_cse=False)
    (final, total, _), out = _scan_periods(period, (state, zero, key), scenarios.demand)
    final = final.replace(params=scenarios.params)
    counted = scenarios.n * (periods - ignore_periods) * structure.n_stores
    mean_cost = sum(x.sum() for x in total) / counted
    if not record:
        return SimulationResult(mean_cost, None, None, None, final)
    cost, actions, extras = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), out)
    return SimulationResult(mean_cost, cost.total(), cost, actions, final, extras)


def simulate(
    problem: Problem,
    policy: Any,
    params: Any,
    scenarios: Scenarios,
    ignore_periods: Optional[int] = None,
    *,
    record: bool = True,
    key: Optional[jax.Array] = None,
    backprop_periods: Optional[int] = None,
) -> SimulationResult:
    """Rolls `policy` through every period of every scenario.

    Jitted and differentiable in `params` (and in the scenarios' arrays); compiles once
    per (structure, policy, shapes, ignore_periods, record).

    Args:
      problem: the problem (its structure is used; parameters come from `scenarios`).
      policy: any object with `apply(params, observation) -> Action`.
      params: the policy's parameters (a pytree).
      scenarios: the sample paths.
      ignore_periods: warm-up periods left out of `mean_cost`; defaults to the
        scenarios' own.
      record: keep per-period costs and actions (memory O(n T locations)).
      key: for a stochastic policy (REINFORCE, `invjax.train.reinforce.Perturbed`): a
        typed PRNG key; each period splits off a key and calls
        `policy.sample(params, observation, key_t) -> (feasible Action, extras)`, and the
        per-period extras come back in `SimulationResult.extras` (needs record=True).
      backprop_periods: truncated backpropagation through time: the gradient reaches
        back from a period's cost at most to the last period that is a multiple of
        this (None: through every period, the exact pathwise gradient). Costs and flows
        do not change.

    Returns:
      A `SimulationResult`; `mean_cost` is the paper's reported cost per store per period.
    """
    if ignore_periods is None:
        ignore_periods = scenarios.ignore_periods
    _validate(problem.structure, scenarios, ignore_periods)
    if key is not None and not record:
        raise ValueError("record: a stochastic policy (key given) needs record=True")
    if backprop_periods is not None and (isinstance(backprop_periods, bool)
                                         or not isinstance(backprop_periods, int)
                                         or backprop_periods < 1):
        raise ValueError(f"backprop_periods: {backprop_periods!r}; allowed: None or a "
                         "positive integer")
    return _simulate(problem.structure, policy, params, scenarios, int(ignore_periods), record,
                     key, backprop_periods)


def hindsight_cost(problem: Problem, policy: Any, params: Any, scenarios: Scenarios,
                   ignore_periods: int = 0, *, splits: int = 1,
                   backprop_periods: Optional[int] = None) -> jnp.ndarray:
    """Mean cost per store per period over all periods: the HDPO training loss.

    Args:
      backprop_periods: as in `simulate` (None: the exact gradient).
      splits: roll the scenarios out as this many equal, independent sub-batches (one
        scan each) and average. Same value and gradient. XLA:CPU runs independent
        scans on different cores at once; with one scan it splits every op across the
        cores instead, which loses to the synchronisation when ops are small (the
        symmetry-aware net's store layers: 1.1-1.3x faster with 2-4 splits on 2 cores).

    References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 4.
    """
    if not isinstance(splits, int) or splits < 1 or scenarios.n % splits:
        raise ValueError(
            f"splits: {splits!r}; allowed: a positive integer dividing the {scenarios.n} "
            "scenarios"
        )
    def cost(part):
        return simulate(problem, policy, params, part, ignore_periods, record=False,
                        backprop_periods=backprop_periods).mean_cost

    if splits == 1:
        return cost(scenarios)
    size = scenarios.n // splits
    parts = [jax.tree.map(lambda x: x[i * size:(i + 1) * size], scenarios)  # noqa: B023
             for i in range(splits)]
    return sum([cost(part) for part in parts]) / splits
