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

import numpy as np

from invjax.network import Network, inbound_table
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
    params: Params  # per-scenario parameters, leaves [n, locations or edges]
    past_demand: jnp.ndarray  # [n, n_stores, demand_history] last demands, oldest first


class Action(NamedTuple):
    """Flows of one period on every edge, grouped by the kind of their destination
    (`Network.edges_into` order); `None` for a kind the network lacks. Where every
    location has one inbound edge, entry i is location i's order."""

    stores: jnp.ndarray  # [n, edges into stores]
    warehouses: Optional[jnp.ndarray] = None  # [n, edges into warehouses]
    echelons: Optional[jnp.ndarray] = None  # [n, edges into echelons]


class LocationCost(NamedTuple):
    """Cost of one period per location (edge costs count at their destination)."""

    stores: jnp.ndarray  # [..., n_stores]
    warehouses: jnp.ndarray  # [..., n_warehouses]
    echelons: jnp.ndarray  # [..., n_echelons]

    def total(self) -> jnp.ndarray:
        return self.stores.sum(-1) + self.warehouses.sum(-1) + self.echelons.sum(-1)


_FLOWS = {"store": "stores", "warehouse": "warehouses", "echelon": "echelons"}
_INVENTORY = {k: f"{k}_inventory" for k in _FLOWS}
_PREFIX = {"store": "", "warehouse": "warehouse_", "echelon": "echelon_"}


def sum_last(x: jnp.ndarray) -> jnp.ndarray:
    """x.sum(-1) for a short last axis (inbound edges, pipeline slots, a location's
    outbound flows), as elementwise adds left to right.

    XLA:CPU fuses the adds with the period's other elementwise work; `sum(-1)` became a
    separate reduction every period (in jaxlib 0.10 a YNNPACK reduce that costs more
    than the rest of a base-stock period).
    """
    if not x.shape[-1]:  # nothing to add, as sum(-1)
        return jnp.zeros(x.shape[:-1], x.dtype)
    total = x[..., 0]
    for k in range(1, x.shape[-1]):
        total = total + x[..., k]
    return total


def advance(inventory: jnp.ndarray, post: jnp.ndarray, order: jnp.ndarray, lead_time):
    """Receives pipe_1, shifts the pipeline and books `order` to arrive in `lead_time`.

    Args:
      inventory: [m, K] vectors [on_hand, pipe_1, ..., pipe_{K-1}].
      post: [m] on-hand after this period's demand or shipments.
      order: [m] this period's orders, or [m, d] flows on d inbound edges each.
      lead_time: ints in 1..K, shaped as `order` (0 books nothing: a padding edge).

    Returns:
      [m, K] next vectors.
    """
    # Slot by slot, then one stack: XLA fuses it into a single elementwise pass that
    # writes a fresh buffer (no in-place update of the carried state, hence no copy of
    # it), and its transpose in reverse mode is elementwise too. A one-hot select over
    # the slot axis would transpose into a reduction over slots, which XLA:CPU runs as
    # a separate library call every period.
    k = inventory.shape[-1]
    if order.ndim == 1:
        booked = [jnp.where(lead_time == j + 1, order, 0.0) for j in range(k)]
    else:
        booked = [sum_last(jnp.where(lead_time == j + 1, order, 0.0)) for j in range(k)]
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


def _per_location(network: Network, kind: str, values: jnp.ndarray, fill) -> jnp.ndarray:
    """Edge values [edges into kind] as [locations, in-degree] (padding: `fill`)."""
    padded = jnp.concatenate([values, jnp.full((1,), fill, values.dtype)])
    return padded[inbound_table(network, kind)]


def receive(network: Network, kind: str, inventory, post, flows, lead_time, unit_cost):
    """Books this period's inbound flows of every location of `kind`.

    Returns:
      (next inventory [m, K], cost of the inbound flows [m]).
    """
    if network.one_inbound_in_order(kind):
        return advance(inventory, post, flows, lead_time), unit_cost * flows
    flows = _per_location(network, kind, flows, 0.0)
    lead = _per_location(network, kind, lead_time, 0)
    cost = sum_last(_per_location(network, kind, unit_cost, 0.0) * flows)
    return advance(inventory, post, flows, lead), cost


def shipped(network: Network, kind: str, action: Action) -> jnp.ndarray:
    """Sum of the outbound flows of every location of `kind` ([m], one scenario)."""
    totals = []
    for loc in network.of_kind(kind):
        by_group: dict[str, list[int]] = {}
        for group, j in network.outbound(loc.name):
            by_group.setdefault(group, []).append(j)
        total = jnp.zeros((), action.stores.dtype)
        for i, (group, positions) in enumerate(by_group.items()):
            flows = getattr(action, _FLOWS[group])
            first, last = positions[0], positions[-1]
            if positions == list(range(first, last + 1)):
                part = sum_last(flows[first:last + 1])
            else:
                part = sum_last(flows[np.asarray(positions)])
            total = part if i == 0 else total + part
        totals.append(total)
    return jnp.stack(totals)


def transition_one(structure: Structure, state: State, action: Action, demand):
    """One period of a single scenario (no batch axis). Returns (state, LocationCost).

    SPEC §2 and §7: stores meet demand; every other location ships its outbound flows;
    every edge's flow is booked at its lead time and charged its unit cost.
    """
    net, p = structure.network, state.params
    s_cost, s_post = store_cost(structure, state.store_inventory[:, 0], demand, p)
    store_inventory, s_edge = receive(net, "store", state.store_inventory, s_post,
                                      action.stores, p.lead_time, p.procurement_cost)
    out = {"store_inventory": store_inventory}
    costs = {"store": s_cost + s_edge}
    for kind in ("warehouse", "echelon"):
        inventory = getattr(state, _INVENTORY[kind])
        if not net.count(kind):
            out[_INVENTORY[kind]] = inventory
            costs[kind] = jnp.zeros((0,), inventory.dtype)
            continue
        post = inventory[:, 0] - shipped(net, kind, action)
        prefix = _PREFIX[kind]
        inventory, edge_cost = receive(
            net, kind, inventory, post, getattr(action, _FLOWS[kind]),
            getattr(p, f"{prefix}lead_time"), getattr(p, f"{prefix}procurement_cost"))
        out[_INVENTORY[kind]] = inventory
        costs[kind] = getattr(p, f"{prefix}holding_cost") * jax.nn.relu(post) + edge_cost
    if structure.demand_history:
        out["past_demand"] = jnp.concatenate(
            [state.past_demand[:, 1:], demand[:, None].astype(state.past_demand.dtype)], -1)
    next_state = state.replace(**out)
    return next_state, LocationCost(costs["store"], costs["warehouse"], costs["echelon"])


def complete_action(structure: Structure, action: Action, n: int | None = None) -> Action:
    """Replaces `None` entries by empty [n, 0] arrays and checks shapes; `n`, when
    given, is the state's batch size (scenarios), which every flow array must share."""
    if not isinstance(action, Action):
        raise ValueError(f"action: expected an invjax.Action, got {type(action).__name__}")
    stores = jnp.asarray(action.stores)
    count = structure.count("lead_time")
    if stores.ndim != 2 or (n is not None and stores.shape[0] != n):
        raise ValueError(f"Action.stores: expected shape [{'n' if n is None else n}, {count}] "
                         f"(scenarios, edges into stores), got {list(stores.shape)}")
    n = stores.shape[0]
    out = {}
    for kind, field in _FLOWS.items():
        count = len(structure.network.edges_into(kind))
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
            past_demand=scenarios.past_demand,
        )

    def transition(self, state: State, action: Action, demand) -> tuple[State, LocationCost]:
        """One period for all scenarios; cost broken down per location ([n, count])."""
        action = complete_action(self.structure, action, state.store_inventory.shape[0])
        body = jax.vmap(transition_one, in_axes=(None, State(0, 0, 0, None, 0, 0), 0, 0))
        next_state, cost = body(self.structure, state, action, demand)
        return next_state.replace(period=state.period + 1), cost

    def step(self, state: State, action: Action, demand) -> tuple[State, jnp.ndarray]:
        """One period for all scenarios; returns the next state and the cost [n]."""
        next_state, cost = self.transition(state, action, demand)
        return next_state, cost.total()
