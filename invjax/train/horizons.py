"""Safe training, dev and test horizons from the network and the demand process.

The paper trains on 50-period traces (first 30 not reported) and selects by the cost of
dev periods 60-100. That is safe for short supply paths and fails for long ones: with
a 20-period lead time (backlogged, p = 39) or a 12-period serial chain (L = 3, p = 39) a
50-period trace holds few decisions that are both taken in a settled state and costed
inside the trace, and the trained policy never sees the states the dev cost measures.

The rule, with P the longest supply path (sum of lead times from the supplier to a
store, `Network.longest_path`) and m the demand's mixing time (AR(1) coefficient a:
the least m with a**m <= 1 %, i.e. ceil(log 0.01 / log a); 0 for independent demand):

- settle = P + m: by then the initial pipeline has arrived everywhere and the demand
  has forgotten where the trace started, so the state is the policy's doing.
- train periods: the least multiple of 50 (the paper's trace) holding `settle`, then
  `LEARN_PERIODS` settled decisions, then the P periods their orders take to arrive
  (an order placed in the last P periods costs nothing inside the trace). Warm-up:
  at least `settle`.
- dev: its warm-up at least the training trace (the dev cost measures periods past the
  end of every training trace, as the paper's 60 > 50), then the same number of counted
  periods as given (the paper's 40).
- test: its warm-up at least the dev's, counted periods as given.

Every split keeps at least the horizon it is given (the setting's `data`, or the
paper's), so the paper's 50/30, 100/60 and 5000/3000 are kept wherever they are safe
(P <= 10 with independent demand: one store up to L = 10, serial L = 1, one_warehouse,
transshipment, the authors' many_warehouses), and the two cells that failed at 50
(backlogged L = 20; serial L = 3, P = 12) get 100-period traces and dev periods 100-140.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 5 (horizons);
SPEC §3; benchmarks/results/one_store_backlogged_L20_T100.md, serial_L3_T100.md.
`dev_test_warnings` checks a run afterwards: its test cost against its best dev cost.
"""

from __future__ import annotations

import math

import numpy as np

from invjax.problem import Structure
from invjax.scenarios import DEFAULT_HORIZONS, Horizon

SPLITS = ("train", "dev", "test")
LEARN_PERIODS = 30  # settled, costed decisions per training trace (paper at L = 4: 42)
TRACE_STEP = 50  # training traces grow in whole multiples of the paper's 50 periods
MIXING_TOLERANCE = 0.01  # the demand has mixed when a**m falls to this
# Dev and test count the same kind of periods (after warm-up); a test cost further than
# this (relative) from the best dev cost means the dev periods did not show the policy's
# long-run cost, e.g. too short a horizon or warm-up.
DEV_TEST_TOLERANCE = 0.03


def mixing_periods(ar_coefficient: float) -> int:
    """Periods until an AR(1) demand forgets its start: least m with a**m <= 1 %."""
    if ar_coefficient <= 0.0:
        return 0
    return math.ceil(math.log(MIXING_TOLERANCE) / math.log(ar_coefficient))


def settle_periods(structure: Structure) -> int:
    """Longest supply path plus the demand's mixing time (see the module docstring)."""
    return structure.network.longest_path() + mixing_periods(structure.demand.ar_coefficient)


def _train(structure: Structure, given: Horizon) -> Horizon:
    settle = settle_periods(structure)
    needed = settle + LEARN_PERIODS + structure.network.longest_path()
    periods = max(given.periods, TRACE_STEP * math.ceil(needed / TRACE_STEP))
    return Horizon(given.n, periods, max(given.ignore_periods, settle))


def _after(given: Horizon, earlier: int) -> Horizon:
    """`given` with its warm-up at least `earlier` periods, its counted periods kept."""
    ignore = max(given.ignore_periods, earlier)
    return Horizon(given.n, ignore + given.periods - given.ignore_periods, ignore)


def safe_horizons(structure: Structure, given: dict | None = None,
                  fixed: dict | None = None) -> dict[str, Horizon]:
    """Train, dev and test horizons for `structure` (rule: the module docstring).

    Args:
      structure: the problem's structure (its network and demand model).
      given: {split: Horizon or (n, periods, ignore_periods)}: sizes and lower bounds
        (the setting's `data`); the paper's (`scenarios.DEFAULT_HORIZONS`) where absent.
      fixed: {split: horizon} the run config sets: returned as they are, and the later
        splits are derived from them (dev from the fixed train trace, test from dev).

    Returns:
      {"train", "dev", "test": Horizon}.

    References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 5.
    """
    given = {s: Horizon(*(given or {}).get(s, DEFAULT_HORIZONS[s])) for s in SPLITS}
    fixed = {s: Horizon(*h) for s, h in (fixed or {}).items() if h is not None}
    out = {"train": fixed.get("train") or _train(structure, given["train"])}
    out["dev"] = fixed.get("dev") or _after(given["dev"], out["train"].periods)
    out["test"] = fixed.get("test") or _after(given["test"], out["dev"].ignore_periods)
    return out


def dev_test_warnings(test: float, best_dev: float,
                      tolerance: float = DEV_TEST_TOLERANCE) -> list[str]:
    """A warning when the test cost departs from the best dev cost by more than
    `tolerance` (relative), else none."""
    if not (np.isfinite(test) and np.isfinite(best_dev)) or best_dev == 0:
        return []
    departure = test / best_dev - 1.0
    if abs(departure) <= tolerance:
        return []
    return [f"test cost {test:.4f} departs from the best dev cost {best_dev:.4f} by "
            f"{100 * departure:+.1f}% (more than {100 * tolerance:g}%): the dev periods may "
            "not show the long-run cost; try longer trainer.train / trainer.dev horizons"]
