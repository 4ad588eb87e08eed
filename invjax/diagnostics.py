"""Gradient diagnostics: how noisy and how well aimed is each gradient estimator?

For a fixed policy, every estimator is drawn `repeats` times on fresh minibatches of
each batch size; we report the total variance E||g - E g||^2 (trace of the covariance)
and the cosine similarity to the "true" gradient, HDPO's on a very large batch.
REINFORCE estimates the gradient of the perturbed policy's cost, which differs from the
deterministic policy's by the smoothing the noise brings; `smoothed_cosine` (cosine
between the two large-batch gradients) measures that gap.

    stats = gradient_stats(problem, policy, params, jax.random.key(0), [64, 256, 1024])

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246 (HDPO against REINFORCE);
Williams (1992) (REINFORCE); SPEC §5.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from invjax.problem import Problem
from invjax.rollout import hindsight_cost
from invjax.scenarios import sample
from invjax.train import reinforce

ESTIMATORS = ("hdpo", "reinforce_none", "reinforce_batch_mean", "reinforce_value")


def _flat(tree) -> jnp.ndarray:
    return ravel_pytree(tree)[0]


def estimate(problem: Problem, policy, params, scenarios, key, estimator: str, log_scale,
             value_params=None) -> jnp.ndarray:
    """One gradient estimate of the mean cost per store per period, flattened [P]."""
    if estimator == "hdpo":
        return _flat(jax.grad(hindsight_cost, 2)(problem, policy, params, scenarios))
    if estimator == "pathwise_perturbed":
        return _flat(jax.grad(reinforce.perturbed_cost, 2)(
            problem, policy, params, log_scale, scenarios, key))
    baseline = estimator.removeprefix("reinforce_")
    grads = reinforce.reinforce_grad(problem, policy, params, log_scale, scenarios, key,
                                     baseline, value_params)[1]
    return _flat(grads)


@functools.partial(jax.jit, static_argnums=(1, 5, 6, 7))
def _draws(problem, policy, params, log_scale, value_params, estimator, batch, periods, keys):
    """Estimates [R, P], one per key, each on its own freshly sampled minibatch."""

    def one(key):
        k_data, k_noise = jax.random.split(key)
        scenarios = sample(problem, k_data, batch, periods)
        return estimate(problem, policy, params, scenarios, k_noise, estimator, log_scale,
                        value_params)

    return jax.lax.map(one, keys)


def large_batch_gradient(problem, policy, params, key, n: int, periods: int, *,
                         estimator="hdpo", log_scale=None, chunk: int = 8192) -> np.ndarray:
    """The mean of `estimator` over `n` scenarios, in chunks (the "true" gradient)."""
    chunk = min(chunk, n)
    keys = jax.random.split(key, max(n // chunk, 1))
    draws = _draws(problem, policy, params, log_scale, None, estimator, chunk, periods, keys)
    return np.asarray(draws, np.float64).mean(0)


def fit_value(problem: Problem, policy, params, key, log_scale, *, periods: int,
              steps: int = 300, batch: int = 512, learning_rate: float = 1e-2):
    """Value-baseline parameters regressed on the cost-to-go of the fixed perturbed policy."""
    width = reinforce.feature_width(problem.structure)
    k_init, k_steps = jax.random.split(key)
    value_params = reinforce.value_net().init(k_init, jnp.zeros((1, width), jnp.float32))
    optimizer = optax.adam(learning_rate)

    def step(carry, key):
        value_params, opt_state = carry
        k_data, k_noise = jax.random.split(key)
        scenarios = sample(problem, k_data, batch, periods)
        traj = reinforce.rollout(problem, policy, params, log_scale, scenarios, k_noise)
        returns = reinforce.cost_to_go(traj.cost)
        loss, grads = jax.value_and_grad(reinforce.value_loss)(value_params, traj.features,
                                                               returns)
        updates, opt_state = optimizer.update(grads, opt_state)
        return (optax.apply_updates(value_params, updates), opt_state), loss

    run = jax.jit(lambda v, k: jax.lax.scan(step, (v, optimizer.init(v)), k))
    (value_params, _), losses = run(value_params, jax.random.split(k_steps, steps))
    return value_params, losses


def _cosine(g, truth):
    return g @ truth / (np.linalg.norm(g, axis=-1) * np.linalg.norm(truth) + 1e-30)


def gradient_stats(problem: Problem, policy, params, key, batch_sizes: Sequence[int], *,
                   periods: int = 50, repeats: int = 32, noise_scale: float = 0.2,
                   estimators: Sequence[str] = ESTIMATORS, truth_scenarios: int = 65_536,
                   value_steps: int = 300) -> dict:
    """Variance and cosine to the true gradient of each estimator, per batch size.

    Args:
      problem, policy, params: the fixed policy.
      key: a typed PRNG key.
      batch_sizes: minibatch sizes (scenarios of `periods` periods).
      repeats: draws per (estimator, batch size).
      noise_scale: REINFORCE's order noise (std / mean demand), fixed.
      estimators: names in ESTIMATORS.
      truth_scenarios: scenarios of the large-batch HDPO ("true") gradient.
      value_steps: regression steps of the value baseline (for "reinforce_value").

    Returns:
      {"truth_norm", "smoothed_cosine", "rows": [{"estimator", "batch_size",
      "variance", "relative_variance", "cosine", "cosine_std",
      "cosine_smoothed"}, ...]}; relative_variance = variance / ||truth||^2.
    """
    unknown = set(estimators) - set(ESTIMATORS)
    if unknown:
        raise ValueError(f"estimators: unknown {sorted(unknown)}; allowed: {list(ESTIMATORS)}")
    k_truth, k_smooth, k_value, k_draws = jax.random.split(key, 4)
    log_scale = jnp.log(jnp.float32(noise_scale))
    truth = large_batch_gradient(problem, policy, params, k_truth, truth_scenarios, periods)
    smoothed = large_batch_gradient(problem, policy, params, k_smooth, truth_scenarios,
                                    periods, estimator="pathwise_perturbed",
                                    log_scale=log_scale)
    value_params = None
    if "reinforce_value" in estimators:
        value_params, _ = fit_value(problem, policy, params, k_value, log_scale,
                                    periods=periods, steps=value_steps)
    rows = []
    keys = jax.random.split(k_draws, (len(estimators), len(batch_sizes)))
    for i, name in enumerate(estimators):
        for j, batch in enumerate(batch_sizes):
            draws = _draws(problem, policy, params, log_scale,
                           value_params if name == "reinforce_value" else None,
                           name, int(batch), periods, jax.random.split(keys[i, j], repeats))
            g = np.asarray(draws, np.float64)
            variance = float(((g - g.mean(0)) ** 2).sum(-1).sum() / (repeats - 1))
            cosine = _cosine(g, truth)
            rows.append({
                "estimator": name, "batch_size": int(batch), "variance": variance,
                "relative_variance": variance / float(truth @ truth),
                "cosine": float(cosine.mean()), "cosine_std": float(cosine.std()),
                "cosine_smoothed": float(_cosine(g, smoothed).mean()),
            })
    return {"truth_norm": float(np.linalg.norm(truth)),
            "smoothed_cosine": float(_cosine(smoothed, truth)), "rows": rows}


def plot(stats: dict, path=None, title: str = ""):
    """Relative variance and cosine to the true gradient against batch size."""
    import matplotlib.pyplot as plt

    fig, (ax_var, ax_cos) = plt.subplots(1, 2, figsize=(10, 4))
    for name in dict.fromkeys(r["estimator"] for r in stats["rows"]):
        rows = [r for r in stats["rows"] if r["estimator"] == name]
        sizes = [r["batch_size"] for r in rows]
        ax_var.loglog(sizes, [r["relative_variance"] for r in rows], "o-", label=name)
        ax_cos.semilogx(sizes, [r["cosine"] for r in rows], "o-", label=name)
    ax_var.set(xlabel="batch size (scenarios)", ylabel="variance / ||true gradient||^2")
    ax_cos.set(xlabel="batch size (scenarios)", ylabel="cosine to true gradient",
               ylim=(min(0.0, ax_cos.get_ylim()[0]), 1.02))
    ax_var.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
