"""Gradient estimators as strategies of the training loop: HDPO and REINFORCE.

`make_train` picks one `Strategy` from the config and never asks which it is. A
strategy says how the optimizer state is laid out (HDPO: the policy optimizer's state;
REINFORCE: (policy optimizer state, (aux params, aux optimizer state))), which keys an
epoch draws, and how one minibatch step estimates the loss and the policy gradient.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 4 (HDPO);
Williams (1992) (REINFORCE); SPEC §5.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax

from invjax.train import reinforce


class Strategy(NamedTuple):
    """How a training step estimates the policy gradient."""

    # (shuffle key, params, policy optimizer state) -> (opt_state, shuffle key)
    init: Callable[[jax.Array, Any, Any], tuple]
    # (state key, steps) -> (next key, permutation key, per-step keys or None)
    epoch_keys: Callable[[jax.Array, int], tuple]
    step: Callable[..., tuple]  # (params, opt_state, scenarios, step key) -> (loss, grads, extra)
    policy_state: Callable[[Any], Any]  # opt_state -> the policy optimizer's state
    combine: Callable[[Any, Any], Any]  # (policy optimizer state, extra) -> opt_state


def hdpo(loss: Callable) -> Strategy:
    """The exact pathwise gradient of `loss(params, scenarios)` (the hindsight cost)."""

    def epoch_keys(key, steps):
        del steps
        key, k_perm = jax.random.split(key)
        return key, k_perm, None

    def step(params, opt_state, scenarios, key):
        del opt_state, key
        return (*jax.value_and_grad(loss)(params, scenarios), None)

    return Strategy(
        init=lambda key, params, opt_state: (opt_state, key),
        epoch_keys=epoch_keys,
        step=step,
        policy_state=lambda opt_state: opt_state,
        combine=lambda policy_state, extra: policy_state,
    )


def score_function(problem, policy, config) -> Strategy:
    """REINFORCE of the perturbed policy (`invjax.train.reinforce`), with its own state."""
    estimator = reinforce.make_estimator(problem, policy, config)

    def init(key, params, opt_state):
        key, k_extra = jax.random.split(key)
        return (opt_state, estimator.init(k_extra, params)), key

    def epoch_keys(key, steps):
        key, k_perm, k_noise = jax.random.split(key, 3)
        # Raw key data: the step keys enter `cond`, where under `vmap` both branches run
        # and a typed key used in one branch only would count as reused.
        return key, k_perm, jax.random.key_data(jax.random.split(k_noise, steps))

    def step(params, opt_state, scenarios, key):
        return estimator.step(params, opt_state[1], scenarios, jax.random.wrap_key_data(key))

    return Strategy(init, epoch_keys, step, policy_state=lambda opt_state: opt_state[0],
                    combine=lambda policy_state, extra: (policy_state, extra))


def for_config(problem, policy, config, loss: Callable) -> Strategy:
    """The strategy of `config.estimator` ("hdpo" | "reinforce")."""
    if config.estimator == "reinforce":
        return score_function(problem, policy, config)
    return hdpo(loss)
