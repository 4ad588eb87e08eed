"""Pure one-period dynamics and costs of an inventory network (gymnax-shaped `Env`).

One period (SPEC §2): orders are placed; store demand is revealed and charged; the
warehouse ships the store orders and is charged on what is left; each echelon ships the
next stage's order and is charged likewise; every location receives its pipe_1 and
shifts its pipeline, the new order going to index L-1 (on hand L periods later).

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 2; SPEC §2.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
from flax import struct

from invjax.problem import Params, Problem, Structure

# A policy marks with `jax.ad_checkpoint.checkpoint_name(x, RESIDUAL)` the intermediates
# worth keeping for the backward pass of a rollout (typically outputs of wide matmuls);
# everything else in a period is recomputed from the period's state when differentiating.
RESIDUAL = "invjax_residual"


@struct.dataclass
class State:
    """Batched network state; it is also what a policy observes."""

    store_inventory: jnp.ndarray  # [n, n_stores, store_slots]: on_hand, pipe_1, ...
    warehouse_inventory: jnp.ndarray  # [n, n_warehouses, warehouse_slots]
    echelon_inventory: jnp.ndarray  # [n, n_echelons, echelon_slots]
    period: jnp.ndarray  # [] int32, index of the current period
    params: Params  # per-scenario parameters, leaves [n, locations]


class Action(NamedTuple):
    """Orders of one period; `None` for a location type the network lacks."""

    stores: jnp.ndarray  # [n, n_stores]
    warehouses: Optional[jnp.ndarray] = None  # [n, n_warehouses]
    echelons: Optional[jnp.ndarray] = None  # [n, n_echelons], echelon 0 most upstream


class LocationCost(NamedTuple):
    """Cost of one period per location."""

    stores: jnp.ndarray  # [..., n_stores]
    warehouses: jnp.ndarray  # [..., n_warehouses]
    echelons: jnp.ndarray  # [..., n_echelons]

    def total(self) -> jnp.ndarray:
        return self.stores.sum(-1) + self.warehouses.sum(-1) + self.echelons.sum(-1)


def advance(inventory: jnp.ndarray, post: jnp.ndarray, order: jnp.ndarray, lead_time):
    """Receives pipe_1, shifts the pipeline and books `order` to arrive in `lead_time`.

    Args:
      inventory: [m, K] vectors [on_hand, pipe_1, ..., pipe_{K-1}].
      post: [m] on-hand after this period's demand or shipments.
      order: [m] this period's orders.
      lead_time: [m] ints in 1..K.

    Returns:
      [m, K] next vectors.
    """
    # Slot by slot, then one stack: XLA fuses it into a single elementwise pass that
    # writes a fresh buffer (no in-place update of the carried state, hence no copy of
    # it), and its transpose in reverse mode is elementwise too. A one-hot select over
    # the slot axis would transpose into a reduction over slots, which XLA:CPU runs as
    # a separate library call every period.
    k = inventory.shape[-1]
    booked = [jnp.where(lead_time == j + 1, order, 0.0) for j in range(k)]
    slots = [inventory[:, j + 1] + booked[j] for j in range(k - 1)] + [booked[k - 1]]
    slots[0] = slots[0] + post
    return jnp.stack(slots, axis=-1)


def store_cost(structure: Structure, on_hand, demand, params: Params):
    """Store cost of one period and the on-hand left after demand."""
    x = on_hand - demand
    excess = jax.nn.relu(x)
    if structure.maximize_profit:
        cost = -params.underage_cost * jnp.minimum(on_hand, demand) + params.holding_cost * excess
    else:
        cost = params.underage_cost * jax.nn.relu(-x) + params.holding_cost * excess
    post = excess if structure.lost_demand else x
    return cost, post


def transition_one(structure: Structure, state: State, action: Action, demand):
    """One period of a single scenario (no batch axis). Returns (state, LocationCost)."""
    p = state.params
    s_cost, s_post = store_cost(structure, state.store_inventory[:, 0], demand, p)
    store_inventory = advance(state.store_inventory, s_post, action.stores, p.lead_time)

    w_inv = state.warehouse_inventory
    w_post = w_inv[:, 0] - action.stores.sum()
    w_cost = (
        p.warehouse_holding_cost * jax.nn.relu(w_post)
        + p.warehouse_procurement_cost * action.warehouses
    )
    warehouse_inventory = advance(w_inv, w_post, action.warehouses, p.warehouse_lead_time)

    e_inv = state.echelon_inventory
    downstream = jnp.concatenate([action.echelons[1:], action.warehouses.sum(keepdims=True)])
    e_post = e_inv[:, 0] - downstream[: structure.n_echelons]
    e_cost = p.echelon_holding_cost * jax.nn.relu(e_post)
    echelon_inventory = advance(e_inv, e_post, action.echelons, p.echelon_lead_time)

    next_state = state.replace(
        store_inventory=store_inventory,
        warehouse_inventory=warehouse_inventory,
        echelon_inventory=echelon_inventory,
    )
    return next_state, LocationCost(s_cost, w_cost, e_cost)


def complete_action(structure: Structure, action: Action) -> Action:
    """Replaces `None` entries by empty [n, 0] arrays and checks shapes."""
    stores = jnp.asarray(action.stores)
    n = stores.shape[0]
    expected = {
        "stores": structure.n_stores,
        "warehouses": structure.n_warehouses,
        "echelons": structure.n_echelons,
    }
    out = {}
    for field, count in expected.items():
        value = getattr(action, field)
        if value is None:
            if count:
                raise ValueError(f"Action.{field}: required, shape ({n}, {count})")
            value = jnp.zeros((n, 0), stores.dtype)
        value = jnp.asarray(value)
        if value.shape != (n, count):
            raise ValueError(f"Action.{field}: expected shape ({n}, {count}), got {value.shape}")
        out[field] = value
    return Action(**out)


class Env:
    """Pure, batched environment of a problem: `reset` and `step` hold no state.

    Example:
      env = invjax.Env(problem)
      state = env.reset(scenarios)
      state, cost = env.step(state, action, scenarios.demand[:, 0])
    """

    def __init__(self, problem: Problem | Structure):
        self.structure = problem.structure if isinstance(problem, Problem) else problem

    def reset(self, scenarios) -> State:
        """Initial state of every scenario."""
        return State(
            store_inventory=scenarios.store_inventory,
            warehouse_inventory=scenarios.warehouse_inventory,
            echelon_inventory=scenarios.echelon_inventory,
            period=jnp.zeros((), jnp.int32),
            params=scenarios.params,
        )

    def transition(self, state: State, action: Action, demand) -> tuple[State, LocationCost]:
        """One period for all scenarios; cost broken down per location ([n, count])."""
        action = complete_action(self.structure, action)
        body = jax.vmap(transition_one, in_axes=(None, State(0, 0, 0, None, 0), 0, 0))
        next_state, cost = body(self.structure, state, action, demand)
        return next_state.replace(period=state.period + 1), cost

    def step(self, state: State, action: Action, demand) -> tuple[State, jnp.ndarray]:
        """One period for all scenarios; returns the next state and the cost [n]."""
        next_state, cost = self.transition(state, action, demand)
        return next_state, cost.total()
