"""Train / dev / test windows of a sales history, per-series costs, and the scenario
sets (with past-demand and calendar features) that policies are trained and tested on.

Train, dev and test are consecutive, overlapping windows of the same series; the first
`warmup` periods of each only warm up the state and are never reported. Features use
only what precedes each period: the last `k` demands (from before the window when the
history has them, zeros before a series' start) and the calendar. Scales (each
series' mean sales) come from the training window alone.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 7; SPEC §10.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax.numpy as jnp
import numpy as np
from flax import struct

from invjax.sales.calendar import calendar_features
from invjax.sales.history import SalesHistory
from invjax.sales.problem import make_problem_for, scenario_params
from invjax.scenarios import Scenarios

WARMUP = 16  # periods at the start of every window that are not reported
HISTORY = 16  # past demands a policy reads
MARGIN_RANGE = (6.3, 11.7)  # SPEC §10: p ~ U(6.3, 11.7), h = 1, L in {4, 5, 6}
LEAD_TIMES = (4, 5, 6)
MIN_SCALE = 0.1  # floor of a series' mean sales, for scaling
_PAPER = (0, 112, 88, 142, 118, 172)  # the paper's windows on 172 weeks


class Window(NamedTuple):
    start: int  # first period index (inclusive)
    stop: int  # last period index + 1


class Windows(NamedTuple):
    train: Window
    dev: Window
    test: Window


def default_windows(periods: int) -> Windows:
    """The paper's windows (weeks 0-111, 88-141, 118-171 of 172), scaled to `periods`."""
    b = [round(x * periods / _PAPER[-1]) for x in _PAPER]
    return Windows(Window(b[0], b[1]), Window(b[2], b[3]), Window(b[4], b[5]))


def parse_window(text: str, history: SalesHistory, name: str = "window") -> Window:
    """'START:STOP' as period indices or dates (STOP exclusive)."""
    parts = str(text).split(":")
    if len(parts) != 2:
        raise ValueError(f"{name}: {text!r}; expected START:STOP (period indices or dates)")
    try:
        return Window(int(parts[0]), int(parts[1]))
    except ValueError:
        pass
    try:
        bounds = np.asarray(parts, dtype="datetime64[D]")
    except ValueError:
        raise ValueError(f"{name}: {text!r}; expected START:STOP (period indices or dates)")
    if not history.has_dates:
        raise ValueError(f"{name}: {text!r} uses dates but the history has period indices")
    return Window(*(int(i) for i in np.searchsorted(history.dates, bounds)))


def check_windows(windows: Windows, history: SalesHistory, warmup: int = WARMUP) -> None:
    """Raises ValueError for windows out of range, too short, a test window whose
    reported periods overlap training, or a series that starts after a window does."""
    for name, w in windows._asdict().items():
        if not 0 <= w.start < w.stop <= history.periods:
            raise ValueError(f"windows.{name}: {w.start}:{w.stop} must lie within "
                             f"0:{history.periods} (the history's periods)")
        if w.stop - w.start <= warmup:
            raise ValueError(f"windows.{name}: {w.stop - w.start} periods; needs more than "
                             f"the {warmup} warm-up periods")
        late = np.flatnonzero(history.start > w.start)
        if late.size:
            s = late[0]
            raise ValueError(
                f"series {history.series[s]!r} is too short for the {name} window "
                f"{w.start}:{w.stop}: its data start at period {history.start[s]}")
    if windows.test.start + warmup < windows.train.stop:
        raise ValueError(
            f"windows.test: its reported periods start at {windows.test.start + warmup}, "
            f"inside the training window (ends at {windows.train.stop})")


class SeriesCosts(NamedTuple):
    margin: np.ndarray  # [S] unit margin p
    holding_cost: np.ndarray  # [S] h
    lead_time: np.ndarray  # [S] int


def series_costs(history: SalesHistory, seed: int = 0) -> SeriesCosts:
    """Per-series margin, holding cost and lead time: the long file's `margin`,
    `holding_cost`, `lead_time` columns where given, else drawn as in SPEC §10."""
    rng = np.random.default_rng(seed)
    s = len(history.series)
    drawn = {"margin": rng.uniform(*MARGIN_RANGE, s), "holding_cost": np.ones(s),
             "lead_time": rng.choice(LEAD_TIMES, s)}
    out = {k: np.asarray(history.attributes.get(k, v), np.float64) for k, v in drawn.items()}
    for field, value in out.items():
        if not np.all(np.isfinite(value)) or value.min() < 0:
            raise ValueError(f"column {field!r}: must be finite and >= 0")
    if np.any(out["lead_time"] < 1) or np.any(out["lead_time"] != np.round(out["lead_time"])):
        raise ValueError("column 'lead_time': must hold integers >= 1")
    out["lead_time"] = out["lead_time"].astype(np.int64)
    return SeriesCosts(**out)


def store_groups(n_series: int, n_stores: int, repeats: int = 1, seed: int = 0) -> np.ndarray:
    """[n, n_stores] series indices: `repeats` random partitions of the series into
    groups of `n_stores` (one store per series when n_stores = 1)."""
    if not 1 <= n_stores <= n_series:
        raise ValueError(f"n_stores: {n_stores}; allowed: 1..{n_series} (the series count)")
    if n_stores == 1:
        return np.arange(n_series)[:, None]
    rng = np.random.default_rng(seed)
    per = n_series // n_stores
    return np.concatenate([rng.permutation(n_series)[: per * n_stores].reshape(per, n_stores)
                           for _ in range(repeats)])


@struct.dataclass
class SalesSplit:
    """One window of every scenario (a group of series), ready to simulate."""

    scenarios: Scenarios  # demand [n, T, S]; params [n, S]; empty initial inventory;
    # past_demand [n, S, k]: the k demands before the window, oldest first
    calendar: jnp.ndarray  # [T, F] calendar features of the window's periods
    scale: jnp.ndarray  # [n, S] each series' mean sales in the training window
    series: jnp.ndarray  # [n, S] int series index in the history


def series_scale(history: SalesHistory, train: Window) -> np.ndarray:
    """[S] mean sales of each series over the training window (floored at MIN_SCALE)."""
    return np.maximum(history.sales[train.start:train.stop].mean(0), MIN_SCALE)


def make_split(history: SalesHistory, window: Window, groups: np.ndarray,
               costs: SeriesCosts, scale: np.ndarray, *, warehouses: int,
               warmup: int = WARMUP, k: int = HISTORY,
               holidays: Optional[np.ndarray] = None) -> SalesSplit:
    """The scenarios of one window: scenario i holds the series `groups[i]` (under
    `warehouses` warehouses, groups.shape[1] / warehouses consecutive stores each)."""
    problem = make_problem_for(groups.shape[1], int(costs.lead_time.max()), warehouses, k)
    sales = history.sales.astype(np.float32)
    demand = np.moveaxis(sales[window.start:window.stop][:, groups], 0, 1)  # [n, T, S]
    padded = np.concatenate([np.zeros((k, sales.shape[1]), np.float32), sales])
    past = padded[window.start:window.start + k][:, groups]  # [k, n, S]
    n, s = groups.shape
    params = scenario_params(
        problem, costs.margin[groups], costs.holding_cost[groups], costs.lead_time[groups],
        scale[groups], np.sqrt(scale[groups]))
    st = problem.structure
    scenarios = Scenarios(
        demand=jnp.asarray(demand),
        store_inventory=jnp.zeros((n, s, st.store_slots)),
        warehouse_inventory=jnp.zeros((n, st.n_warehouses, st.warehouse_slots)),
        echelon_inventory=jnp.zeros((n, 0, st.echelon_slots)),
        params=params, past_demand=jnp.asarray(np.moveaxis(past, 0, 2)),
        ignore_periods=warmup)
    calendar = calendar_features(history.dates[window.start:window.stop], holidays)
    return SalesSplit(scenarios, jnp.asarray(calendar), jnp.asarray(scale[groups], jnp.float32),
                      jnp.asarray(groups))
