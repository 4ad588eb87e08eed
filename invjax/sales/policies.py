"""Sales policies: the data-driven net (HDPO), the generalised newsvendor family on the
quantile forecaster, and the just-in-time oracle (not admissible).

Each is a frozen dataclass (hashable: a static argument of the jitted rollout) with
`init(key) -> params` and `apply(params, SalesObs) -> Action`. With warehouses (each
serving S / warehouses consecutive stores), store requests are scaled down to what
their warehouse holds (proportional allocation).

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 7; SPEC §4, §10.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from invjax.dynamics import Action
from invjax.policies.policy import proportional_allocation
from invjax.sales import forecast
from invjax.sales.problem import WAREHOUSE_LEAD_TIME

NEWSVENDORS = ("quantile_nv", "fixed_quantile", "transformed_nv")


class MLP(nn.Module):
    hidden: Sequence[int] = (64, 64)

    @nn.compact
    def __call__(self, x):
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(1)(x)[..., 0]


def hub_sum(x: jnp.ndarray, hubs: int) -> jnp.ndarray:
    """[n, S, ...] per store -> [n, hubs, ...] summed over each warehouse's stores
    (stores are grouped by warehouse, in order: S / hubs each)."""
    return x.reshape((x.shape[0], hubs, -1) + x.shape[2:]).sum(2)


def to_stores(x: jnp.ndarray, n_stores: int) -> jnp.ndarray:
    """[n, hubs, ...] per warehouse -> [n, S, ...], each store its warehouse's value."""
    return jnp.repeat(x, n_stores // x.shape[1], axis=1)


def _allocate(obs, desired, hub_orders):
    """Store requests scaled down, warehouse by warehouse, to what it holds."""
    if hub_orders is None:
        return Action(stores=desired)
    n, hubs = hub_orders.shape
    on_hand = obs.state.warehouse_inventory[:, :, 0]  # [n, hubs]
    per_hub = desired.reshape(n, hubs, -1)
    allocate = jax.vmap(proportional_allocation, in_axes=(1, 1), out_axes=1)
    return Action(stores=allocate(per_hub, on_hand).reshape(desired.shape),
                  warehouses=hub_orders)


def _store_inputs(obs, max_lead: int):
    """[n, S, F] per-store inputs in units of the series' scale."""
    st, p = obs.state, obs.state.params
    scale = obs.scale[..., None]
    inv = st.store_inventory / scale
    parts = [inv, inv.sum(-1, keepdims=True), obs.past_demand / scale,
             ((p.underage_cost - 9.0) / 3.0)[..., None], (p.lead_time / max_lead)[..., None],
             jnp.broadcast_to(obs.calendar, inv.shape[:2] + obs.calendar.shape)]
    return jnp.concatenate(parts, -1)


@dataclasses.dataclass(frozen=True)
class DataDrivenNet:
    """MLP on each store's inventory, last k demands, margin, lead time and calendar ->
    order, a ReLU output in units of the series' scale (relu(out + 1) x scale: the
    untrained net orders about the mean). With a warehouse, stores also read the
    warehouse on-hand, and a second MLP on the warehouse vector and the stores' totals
    orders from the supplier in units of the stores' total scale."""

    max_lead: int
    warehouses: int = 0  # 0: stores order from the supplier
    hidden: Sequence[int] = (64, 64)
    k: int = 16
    calendar_width: int = 1

    def _dims(self):
        store = self.max_lead + 1 + self.k + 2 + self.calendar_width + int(self.warehouses > 0)
        return store, WAREHOUSE_LEAD_TIME + self.max_lead + 1 + self.k + self.calendar_width

    def init(self, key: jax.Array) -> Any:
        k_store, k_wh = jax.random.split(key)
        store, wh = self._dims()
        init = jax.jit(MLP(self.hidden).init)  # jitted: eager Flax init is slow
        params = {"store": init(k_store, jnp.zeros((1, store)))}
        if self.warehouses:
            params["warehouse"] = init(k_wh, jnp.zeros((1, wh)))
        return params

    def apply(self, params: Any, obs) -> Action:
        st, m = obs.state, self.warehouses
        x = _store_inputs(obs, self.max_lead)
        if m:
            total = hub_sum(obs.scale, m)  # [n, m] each warehouse's total scale
            on_hand = to_stores(st.warehouse_inventory[:, :, :1] / total[..., None],
                                x.shape[1])
            x = jnp.concatenate([x, on_hand], -1)
        desired = nn.relu(MLP(self.hidden).apply(params["store"], x) + 1.0) * obs.scale
        if not m:
            return Action(stores=desired)
        n = total.shape[0]
        stores = hub_sum(st.store_inventory, m)  # [n, m, K]
        w = jnp.concatenate([
            st.warehouse_inventory / total[..., None], stores / total[..., None],
            stores.sum(-1, keepdims=True) / total[..., None],
            hub_sum(obs.past_demand, m) / total[..., None],
            jnp.broadcast_to(obs.calendar, (n, m) + obs.calendar.shape)], -1)
        order = nn.relu(MLP(self.hidden).apply(params["warehouse"], w) + 1.0) * total
        return _allocate(obs, desired, order)


@dataclasses.dataclass(frozen=True)
class Newsvendor:
    """Order up to the q-quantile of the demand over the lead time plus one period;
    with a warehouse, it orders up to the sum of its stores' quantiles over L_w + L + 1
    periods minus the echelon inventory position. q = p / (p + h) (QuantileNV), one
    learned q (FixedQuantile) or q = MLP(p / (p + h)) (TransformedNV)."""

    kind: str
    max_horizon: int
    warehouses: int = 0

    def __post_init__(self):
        if self.kind not in NEWSVENDORS:
            raise ValueError(f"newsvendor: {self.kind!r}; allowed: {list(NEWSVENDORS)}")

    def init(self, key: jax.Array, forecast_params: Any = None) -> Any:
        params = {"forecast": forecast_params}
        if self.kind == "fixed_quantile":
            params["q_logit"] = jnp.asarray(1.5)
        if self.kind == "transformed_nv":
            params["transform"] = MLP((16,)).init(key, jnp.zeros((1, 1)))
        return params

    def quantile_level(self, params: Any, critical_ratio: jnp.ndarray) -> jnp.ndarray:
        if self.kind == "quantile_nv":
            return critical_ratio
        if self.kind == "fixed_quantile":
            return jnp.broadcast_to(jax.nn.sigmoid(params["q_logit"]), critical_ratio.shape)
        logit = jnp.log(critical_ratio) - jnp.log1p(-critical_ratio)
        shift = MLP((16,)).apply(params["transform"], critical_ratio[..., None])
        return jax.nn.sigmoid(logit + shift)

    def _level(self, params, obs, horizon, q):
        qs = forecast.predict(jax.lax.stop_gradient(params["forecast"]), self.max_horizon,
                              obs.past_demand, obs.scale, obs.calendar, horizon)
        return forecast.quantile(qs, q)

    def apply(self, params: Any, obs) -> Action:
        st, p = obs.state, obs.state.params
        q = self.quantile_level(params, p.underage_cost / (p.underage_cost + p.holding_cost))
        position = st.store_inventory.sum(-1)
        desired = nn.relu(self._level(params, obs, p.lead_time + 1, q) - position)
        if not self.warehouses:
            return Action(stores=desired)
        m = self.warehouses
        level = hub_sum(self._level(params, obs, p.lead_time + 1 + WAREHOUSE_LEAD_TIME, q), m)
        echelon = st.warehouse_inventory.sum(-1) + hub_sum(position, m)
        return _allocate(obs, desired, nn.relu(level - echelon))


@dataclasses.dataclass(frozen=True)
class JustInTimeOracle:
    """Not admissible: orders, L periods ahead, exactly the demand that will come (its
    warehouse orders what its stores will order L_w periods later). No leftover stock
    and no lost sale after the first L_w + L periods: the profit upper bound."""

    max_lead: int
    warehouses: int = 0

    @property
    def lookahead(self) -> int:
        return self.max_lead + 1 + (WAREHOUSE_LEAD_TIME if self.warehouses else 0)

    def init(self, key: jax.Array) -> Any:
        return {}

    def apply(self, params: Any, obs) -> Action:
        lead = obs.state.params.lead_time  # [n, S]
        ahead = obs.lookahead  # [n, H, S]: demand of t, t+1, ...
        pick = lambda j: jnp.take_along_axis(ahead, j[:, None, :], 1)[:, 0]  # noqa: E731
        if not self.warehouses:
            return Action(stores=pick(lead))
        started = obs.state.period >= WAREHOUSE_LEAD_TIME
        stores = jnp.where(started, pick(lead), 0.0)
        return Action(stores=stores,
                      warehouses=hub_sum(pick(lead + WAREHOUSE_LEAD_TIME), self.warehouses))
