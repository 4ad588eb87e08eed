"""Many cells of a grid in one program: `vmap` over problems that share a structure.

Problems of one structure differ only in their `Params` pytree (e.g. the underage costs
of one lead time), so their HDPO runs trace to the same program and batch along a
leading "cell" axis: one compilation, and better use of the cores at small batches.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 5 (the grids).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp

from invjax.problem import Problem
from invjax.scenarios import sample
from invjax.train.hdpo import TrainConfig, make_train


class GridTrainer(NamedTuple):
    """Pure functions over a stack of problems (leaves with a leading cell axis)."""

    problems: Problem  # params leaves [cells, ...]
    train: Callable  # key -> (state, metrics), leaves [cells, ...]; every cell same data key
    test_cost: Callable  # (params [cells, ...], key) -> [cells] test cost after warm-up


def stack(problems: Sequence[Problem]) -> Problem:
    """Stacks problems of one structure along a new leading axis.

    Raises:
      ValueError: no problems, or structures that differ (their shapes would differ).
    """
    if not problems:
        raise ValueError("problems: expected at least one problem")
    first = problems[0].structure
    for i, p in enumerate(problems):
        if p.structure != first:
            raise ValueError(f"problems[{i}]: structure {p.structure} differs from "
                             f"problems[0]'s {first}; only same-structure cells stack")
    return jax.tree.map(lambda *xs: jnp.stack(xs), *problems)


def make_grid_train(problems: Sequence[Problem], policy, config: TrainConfig,
                    test_chunk: int = 8192) -> GridTrainer:
    """HDPO for every problem at once; cells share the data key (common random numbers).

    Args:
      problems: problems with one structure (one per cell).
      policy: a policy built for that structure (policies read parameters from the state).
      config: the training configuration, shared by every cell.
      test_chunk: scenarios simulated at once per cell in `test_cost`.
    """
    stacked = stack(problems)

    def train(key):
        return jax.vmap(lambda p: make_train(p, policy, config).train(key))(stacked)

    n, periods, ignore = config.test
    chunk = min(n, test_chunk)

    @jax.jit
    def chunk_cost(params, key):
        def one(problem, p):
            scenarios = sample(problem, key, chunk, periods, ignore)
            return make_train(problem, policy, config).evaluate(p, scenarios)

        return jax.vmap(one)(stacked, params)

    def test_cost(params, key):
        chunks = math.ceil(n / chunk)
        costs = [chunk_cost(params, jax.random.fold_in(key, i)) for i in range(chunks)]
        return jnp.stack(costs).mean(0)

    return GridTrainer(stacked, train, test_cost)
