"""Quantile forecaster: on held-out synthetic data, its 0.1 / 0.5 / 0.9 quantiles of
one- and multi-period demand cover about 10% / 50% / 90% of the outcomes (SPEC §10)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from invjax.sales import forecast


def test_coverage_on_held_out_periods():
    rng = np.random.default_rng(0)
    periods, n_series, k, horizon = 160, 200, 16, 3
    level = np.exp(rng.uniform(np.log(2.0), np.log(40.0), n_series))
    season = 1 + 0.3 * np.sin(2 * np.pi * np.arange(periods) / 52)[:, None]
    shape = 4.0  # gamma demand (continuous, so coverage is well defined)
    sales = rng.gamma(shape, level * season / shape)
    calendar = ((np.arange(periods) % 52) / 52.0)[:, None].astype(np.float32)
    scale = sales[:110].mean(0)
    x, y = forecast.training_set(sales, 0, 110, calendar[:110], scale, k, horizon)
    fc, losses = forecast.fit(jax.random.key(0), x, y, horizon, steps=1000)
    assert float(losses[-100:].mean()) < float(losses[:100].mean())

    # held out: periods 110..159, never seen in training
    t = np.arange(110, periods - horizon + 1)
    padded = np.concatenate([np.zeros((k, n_series)), sales])
    past = np.stack([padded[t + j] for j in range(k)], -1)  # [t, S, k]
    for h in (1, horizon):
        target = np.stack([sales[t + j] for j in range(h)]).sum(0)  # [t, S]
        qs = jax.vmap(lambda p, c: forecast.predict(
            fc.params, horizon, p, jnp.asarray(scale, jnp.float32), c,
            jnp.full((n_series,), h)))(jnp.asarray(past, jnp.float32), calendar[t])
        for level_q in (0.1, 0.5, 0.9):
            bound = np.asarray(forecast.quantile(qs, jnp.asarray(level_q)))
            below = (target < bound).mean()
            assert abs(below - level_q) < 0.04, (h, level_q, below)
