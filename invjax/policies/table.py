"""A policy that looks its order up in a table over integer pipeline states.

Used for the exact lost-sales optimum: the table comes from value iteration.

References: Zipkin (2008), Old and new methods for lost-sales inventory systems.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp

from invjax.dynamics import Action
from invjax.policies.policy import Policy
from invjax.policies.registry import require
from invjax.problem import Problem, Structure


@functools.cache
def _table_policy(structure: Structure, lead_time: int) -> Policy:
    def init(key):
        raise ValueError("table policy: its params come from a solver, not from init")

    def apply(params, obs):
        table = params["order"]  # [B+1] * lead_time
        state = obs.store_inventory[:, 0, :lead_time]
        index = jnp.clip(jnp.round(state), 0, table.shape[0] - 1).astype(jnp.int32)
        order = table[tuple(index[:, i] for i in range(lead_time))]
        return Action(stores=order[:, None].astype(jnp.float32))

    return Policy(init, apply)


def lost_sales_table_policy(problem: Problem, solution):
    """(policy, params) playing the value-iteration optimum of a lost-sales store."""
    lead_time = solution.order.ndim
    require("lost_sales_table", problem)
    return _table_policy(problem.structure, lead_time), {"order": jnp.asarray(solution.order)}
