"""Quantile forecaster of cumulative demand: a Flax MLP trained by pinball loss.

It predicts the 0.05, 0.10, ..., 0.95 quantiles of the demand summed over the next h
periods (h = L + 1 for a store that orders with lead time L), in units of the series'
scale, from the last k demands and the calendar; quantiles are monotone by
construction and linearly interpolated in between.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 7 (generalised
newsvendor baselines); SPEC §10.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

LEVELS = np.round(np.arange(0.05, 0.951, 0.05), 2)  # the 19 quantile levels


class QuantileMLP(nn.Module):
    """Features [..., F] -> monotone quantiles [..., len(LEVELS)]."""

    hidden: Sequence[int] = (64, 64)

    @nn.compact
    def __call__(self, x):
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        raw = nn.Dense(len(LEVELS))(x)
        steps = jnp.concatenate([raw[..., :1], jax.nn.softplus(raw[..., 1:])], axis=-1)
        return jnp.cumsum(steps, axis=-1)


class Forecaster(NamedTuple):
    """Trained parameters and the largest horizon they cover (pass `max_horizon`
    statically when calling `predict` under jit)."""

    params: Any
    max_horizon: int


def features(past: jnp.ndarray, scale: jnp.ndarray, calendar: jnp.ndarray,
             horizon: jnp.ndarray, max_horizon: int) -> jnp.ndarray:
    """[..., k + F + H] inputs: past demands / scale, calendar, one-hot horizon (1..H)."""
    lead = past.shape[:-1]
    cal = jnp.broadcast_to(calendar, lead + calendar.shape[-1:])
    onehot = jax.nn.one_hot(horizon - 1, max_horizon)
    return jnp.concatenate([past / scale[..., None], cal, onehot], axis=-1)


def pinball(pred: jnp.ndarray, target: jnp.ndarray) -> jnp.ndarray:
    """Mean pinball loss of quantiles pred [..., Q] for targets [...]."""
    diff = target[..., None] - pred
    levels = jnp.asarray(LEVELS, pred.dtype)
    return jnp.mean(jnp.maximum(levels * diff, (levels - 1.0) * diff))


def quantile(quantiles: jnp.ndarray, q: jnp.ndarray) -> jnp.ndarray:
    """The q-quantile [...] from quantiles [..., Q] by linear interpolation (q clipped
    to the outer levels); differentiable in q."""
    q = jnp.broadcast_to(q, quantiles.shape[:-1])
    pos = jnp.clip((q - LEVELS[0]) / (LEVELS[1] - LEVELS[0]), 0.0, len(LEVELS) - 1.0)
    low = jnp.clip(jnp.floor(pos).astype(jnp.int32), 0, len(LEVELS) - 2)
    frac = pos - low
    lower = jnp.take_along_axis(quantiles, low[..., None], -1)[..., 0]
    upper = jnp.take_along_axis(quantiles, low[..., None] + 1, -1)[..., 0]
    return lower + frac * (upper - lower)


def predict(params: Any, max_horizon: int, past, scale, calendar, horizon) -> jnp.ndarray:
    """Quantiles [..., Q] of the demand over the next `horizon` periods, in units.

    Args:
      params: a `Forecaster`'s params; max_horizon: its `max_horizon` (static).
      past: [..., k] last demands; scale: [...]; calendar: [F]; horizon: [...] ints.
    """
    x = features(past, scale, calendar, horizon, max_horizon)
    return QuantileMLP().apply(params, x) * scale[..., None]


def training_set(sales: np.ndarray, start: int, stop: int, calendar: np.ndarray,
                 scale: np.ndarray, k: int, max_horizon: int):
    """Examples from periods start..stop-1 only: for every series, period t >= k (a full
    past) and horizon h with t + h <= stop, (features, target = demand of t..t+h-1 /
    scale)."""
    padded = np.concatenate([np.zeros((k, sales.shape[1])), sales]).astype(np.float32)
    cumsum = np.concatenate([np.zeros((1, sales.shape[1])), np.cumsum(sales, 0)])
    xs, ys = [], []
    for h in range(1, max_horizon + 1):
        t = np.arange(max(start, k), stop - h + 1)
        past = np.stack([padded[t + j] for j in range(k)], -1)  # [t, S, k] (j: t-k+j)
        target = (cumsum[t + h] - cumsum[t]) / scale  # [t, S]
        cal = np.broadcast_to(calendar[t - start][:, None], target.shape + calendar.shape[1:])
        hot = np.zeros(target.shape + (max_horizon,), np.float32)
        hot[..., h - 1] = 1.0
        x = np.concatenate([past / scale[:, None], cal, hot], -1)
        xs.append(x.reshape(-1, x.shape[-1]))
        ys.append(target.reshape(-1))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.float32)


@functools.partial(jax.jit, static_argnames=("steps", "batch"))
def _fit(key, x, y, steps: int, batch: int, learning_rate: float):
    model = QuantileMLP()
    k_init, k_batch = jax.random.split(key)
    params = model.init(k_init, x[:1])
    optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, steps, alpha=0.1))

    def step(carry, k):
        params, opt = carry
        index = jax.random.randint(k, (batch,), 0, x.shape[0])
        loss, grads = jax.value_and_grad(
            lambda p: pinball(model.apply(p, x[index]), y[index]))(params)
        updates, opt = optimizer.update(grads, opt, params)
        return (optax.apply_updates(params, updates), opt), loss

    (params, _), losses = jax.lax.scan(step, (params, optimizer.init(params)),
                                       jax.random.split(k_batch, steps))
    return params, losses


def fit(key: jax.Array, x: np.ndarray, y: np.ndarray, max_horizon: int, steps: int = 2000,
        batch: int = 2048, learning_rate: float = 3e-3) -> tuple[Forecaster, jnp.ndarray]:
    """Trains the quantile MLP by pinball loss (Adam, cosine decay); returns it and the
    per-step losses."""
    if x.shape[0] < 1:
        raise ValueError("forecaster: no training examples (training window too short)")
    params, losses = _fit(key, jnp.asarray(x), jnp.asarray(y), steps, batch, learning_rate)
    return Forecaster(params, max_horizon), losses
