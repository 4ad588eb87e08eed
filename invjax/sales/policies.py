"""Sales policies: the data-driven net (HDPO), the generalised newsvendor family on the
quantile forecaster, and the just-in-time oracle (not admissible).

Each is a frozen dataclass (hashable: a static argument of the jitted rollout) with
`init(key) -> params` and `apply(params, SalesObs) -> Action`. With a warehouse, store
requests are scaled down to what the warehouse holds (proportional allocation).

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


def _allocate(obs, desired, warehouse_order):
    if warehouse_order is None:
        return Action(stores=desired)
    on_hand = obs.state.warehouse_inventory[:, 0, 0]
    return Action(stores=proportional_allocation(desired, on_hand),
                  warehouses=warehouse_order[:, None])


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
    warehouse: bool = False
    hidden: Sequence[int] = (64, 64)
    k: int = 16
    calendar_width: int = 1

    def _dims(self):
        store = self.max_lead + 1 + self.k + 2 + self.calendar_width + int(self.warehouse)
        return store, WAREHOUSE_LEAD_TIME + self.max_lead + 1 + self.k + self.calendar_width

    def init(self, key: jax.Array) -> Any:
        k_store, k_wh = jax.random.split(key)
        store, wh = self._dims()
        init = jax.jit(MLP(self.hidden).init)  # jitted: eager Flax init is slow
        params = {"store": init(k_store, jnp.zeros((1, store)))}
        if self.warehouse:
            params["warehouse"] = init(k_wh, jnp.zeros((1, wh)))
        return params

    def apply(self, params: Any, obs) -> Action:
        st = obs.state
        x = _store_inputs(obs, self.max_lead)
        total = obs.scale.sum(-1, keepdims=True)  # [n, 1]
        if self.warehouse:
            w_on_hand = st.warehouse_inventory[:, :1, 0] / total  # [n, 1]
            x = jnp.concatenate([x, jnp.broadcast_to(w_on_hand[..., None], x.shape[:2] + (1,))],
                                -1)
        desired = nn.relu(MLP(self.hidden).apply(params["store"], x) + 1.0) * obs.scale
        if not self.warehouse:
            return Action(stores=desired)
        w = jnp.concatenate([
            st.warehouse_inventory[:, 0] / total, st.store_inventory.sum(1) / total,
            (st.store_inventory.sum((1, 2)) / total[:, 0])[:, None],
            obs.past_demand.sum(1) / total,
            jnp.broadcast_to(obs.calendar, (total.shape[0],) + obs.calendar.shape)], -1)
        order = nn.relu(MLP(self.hidden).apply(params["warehouse"], w) + 1.0) * total[:, 0]
        return _allocate(obs, desired, order)


@dataclasses.dataclass(frozen=True)
class Newsvendor:
    """Order up to the q-quantile of the demand over the lead time plus one period;
    with a warehouse, it orders up to the sum of its stores' quantiles over L_w + L + 1
    periods minus the echelon inventory position. q = p / (p + h) (QuantileNV), one
    learned q (FixedQuantile) or q = MLP(p / (p + h)) (TransformedNV)."""

    kind: str
    max_horizon: int
    warehouse: bool = False

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
        if not self.warehouse:
            return Action(stores=desired)
        level = self._level(params, obs, p.lead_time + 1 + WAREHOUSE_LEAD_TIME, q).sum(-1)
        echelon = st.warehouse_inventory[:, 0].sum(-1) + position.sum(-1)
        return _allocate(obs, desired, nn.relu(level - echelon))


@dataclasses.dataclass(frozen=True)
class JustInTimeOracle:
    """Not admissible: orders, L periods ahead, exactly the demand that will come (its
    warehouse orders what its stores will order L_w periods later). No leftover stock
    and no lost sale after the first L_w + L periods: the profit upper bound."""

    max_lead: int
    warehouse: bool = False

    @property
    def lookahead(self) -> int:
        return self.max_lead + 1 + (WAREHOUSE_LEAD_TIME if self.warehouse else 0)

    def init(self, key: jax.Array) -> Any:
        return {}

    def apply(self, params: Any, obs) -> Action:
        lead = obs.state.params.lead_time  # [n, S]
        ahead = obs.lookahead  # [n, H, S]: demand of t, t+1, ...
        pick = lambda j: jnp.take_along_axis(ahead, j[:, None, :], 1)[:, 0]  # noqa: E731
        if not self.warehouse:
            return Action(stores=pick(lead))
        started = obs.state.period >= WAREHOUSE_LEAD_TIME
        stores = jnp.where(started, pick(lead), 0.0)
        return Action(stores=stores,
                      warehouses=pick(lead + WAREHOUSE_LEAD_TIME).sum(-1, keepdims=True))
