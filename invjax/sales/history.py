"""Sales histories from CSV files (long or wide), with NumPy alone or pandas.

Long format: one row per (date, series) with columns `date`, `series`, `sales` and any
others (`store`, `item`, `price`, `margin`, `holding_cost`, `lead_time`, ...). Wide
format: a `date` column and one column per series. Dates are ISO `YYYY-MM-DD` or
integer period indices.

Rules, applied the same way to both formats:
- a series starts at its first row (long) or first non-blank cell (wide); earlier
  periods are unknown, and a window that needs them is an error;
- after its start, a period with no row (or a blank cell) counts as zero sales (shops
  record only what they sell);
- negative sales (returns) count as zero demand;
- a (date, series) pair given twice is an error; so are non-numeric sales.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 7 (real data); SPEC §10.
"""

from __future__ import annotations

import csv
import pathlib
from typing import NamedTuple, Optional

import numpy as np

REQUIRED_LONG = ("date", "series", "sales")
NUMERIC_ATTRIBUTES = ("margin", "holding_cost", "lead_time", "price")


class SalesHistory(NamedTuple):
    """A regular grid of periods x series."""

    dates: np.ndarray  # [T] datetime64[D], or int64 period indices
    series: tuple  # [S] names
    sales: np.ndarray  # [T, S] float64 >= 0; 0 before a series' start
    start: np.ndarray  # [S] int: index of each series' first period
    attributes: dict  # name -> [S] array (one value per series, from the long format)

    @property
    def periods(self) -> int:
        return self.sales.shape[0]

    @property
    def has_dates(self) -> bool:
        return np.issubdtype(self.dates.dtype, np.datetime64)


def _parse_dates(values, source: str) -> np.ndarray:
    text = [str(v).strip() for v in values]
    try:
        return np.asarray([int(v) for v in text], dtype=np.int64)
    except ValueError:
        pass
    try:
        return np.asarray(text, dtype="datetime64[D]")
    except ValueError as error:
        raise ValueError(
            f"{source}: column 'date' must hold ISO dates (YYYY-MM-DD) or integer "
            f"periods ({error})"
        ) from None


def _grid(dates: np.ndarray, source: str) -> tuple[np.ndarray, np.ndarray]:
    """The regular grid spanning `dates` and each date's index on it."""
    unique = np.unique(dates)
    steps = np.diff(unique).astype(np.int64)
    step = int(steps.min()) if steps.size else 1
    if steps.size and np.any(steps % step):
        raise ValueError(
            f"{source}: column 'date' is not on a regular grid (gaps of {sorted(set(steps))} "
            f"are not multiples of {step})"
        )
    offset = (dates - unique[0]).astype(np.int64)
    count = int(offset.max()) // step + 1
    grid = unique[0] + np.arange(count) * (np.timedelta64(step, "D") if
                                           np.issubdtype(dates.dtype, np.datetime64) else step)
    return grid, offset // step


def _numbers(values, column: str, source: str, labels=None) -> np.ndarray:
    out = np.empty(len(values))
    for i, v in enumerate(values):
        try:
            out[i] = float(v) if str(v).strip() != "" else np.nan
        except ValueError:
            where = f" (series {labels[i]!r})" if labels is not None else f" (row {i + 2})"
            raise ValueError(
                f"{source}: column {column!r} must be numeric, got {v!r}{where}"
            ) from None
    return out


def _from_long(columns: dict, source: str) -> SalesHistory:
    missing = [c for c in REQUIRED_LONG if c not in columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {missing}; a long file needs "
                         f"{list(REQUIRED_LONG)}")
    names = [str(s) for s in columns["series"]]
    sales = _numbers(columns["sales"], "sales", source, names)
    if np.any(np.isnan(sales)):
        bad = names[int(np.flatnonzero(np.isnan(sales))[0])]
        raise ValueError(f"{source}: column 'sales' is blank for series {bad!r}")
    grid, index = _grid(_parse_dates(columns["date"], source), source)
    series = tuple(dict.fromkeys(names))
    column = {name: j for j, name in enumerate(series)}
    col = np.asarray([column[n] for n in names])
    seen = np.zeros((len(grid), len(series)), bool)
    table = np.full((len(grid), len(series)), np.nan)
    for i, j, v in zip(index, col, sales):
        if seen[i, j]:
            raise ValueError(f"{source}: series {series[j]!r} has two rows for date "
                             f"{grid[i]} (duplicate dates)")
        seen[i, j] = True
        table[i, j] = v
    attributes = {}
    for name in columns:
        if name in REQUIRED_LONG:
            continue
        values = np.asarray(columns[name], dtype=object)
        if name in NUMERIC_ATTRIBUTES:
            values = _numbers(values, name, source, names)
        per_series = [values[col == j] for j in range(len(series))]
        if name in ("margin", "holding_cost", "lead_time"):
            for j, v in enumerate(per_series):
                if np.unique(v).size != 1:
                    raise ValueError(f"{source}: column {name!r} must be constant within "
                                     f"series {series[j]!r}, got {np.unique(v)[:3]}")
        attributes[name] = np.asarray([v[0] for v in per_series])
    return _finish(grid, series, table, attributes)


def _from_wide(columns: dict, source: str) -> SalesHistory:
    if "date" not in columns:
        raise ValueError(f"{source}: missing column ['date']; a long file needs "
                         f"{list(REQUIRED_LONG)}, a wide one 'date' and one column per series")
    series = tuple(c for c in columns if c != "date")
    if not series:
        raise ValueError(f"{source}: a wide file needs a column per series after 'date'")
    grid, index = _grid(_parse_dates(columns["date"], source), source)
    if np.unique(index).size != index.size:
        raise ValueError(f"{source}: column 'date' has duplicate dates")
    table = np.full((len(grid), len(series)), np.nan)
    for j, name in enumerate(series):
        table[index, j] = _numbers(columns[name], name, source)
    return _finish(grid, series, table, {})


def _finish(grid, series, table, attributes) -> SalesHistory:
    known = ~np.isnan(table)
    empty = [s for s, k in zip(series, known.any(0)) if not k]
    if empty:
        raise ValueError(f"series {empty[0]!r} has no sales at all")
    start = known.argmax(axis=0)
    table = np.where(np.isnan(table), 0.0, np.maximum(table, 0.0))  # the stated rules
    return SalesHistory(grid, tuple(series), table, start, attributes)


def _read_columns(path, source: str) -> dict:
    try:
        import pandas as pd
    except ImportError:
        pd = None
    if pd is not None:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        return {str(c).strip(): frame[c].tolist() for c in frame.columns}
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"{source}: empty file")
    header = [h.strip() for h in rows[0]]
    body = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if any(len(r) != len(header) for r in body):
        raise ValueError(f"{source}: every row needs {len(header)} cells ({header})")
    return {h: [r[i] for r in body] for i, h in enumerate(header)}


def read_csv(path, layout: Optional[str] = None) -> SalesHistory:
    """Reads a sales history; `layout` "long", "wide" or None (long if it has a
    `series` column). Uses pandas when installed, the csv module otherwise.

    Raises:
      ValueError: naming the file and the column or series at fault.
    """
    source = pathlib.Path(path).name
    columns = _read_columns(path, source)
    if layout is None:
        layout = "long" if "series" in columns else "wide"
    if layout not in ("long", "wide"):
        raise ValueError(f"layout: {layout!r}; allowed: 'long', 'wide' or None (detect)")
    return (_from_long if layout == "long" else _from_wide)(columns, source)


def from_frame(frame, layout: Optional[str] = None) -> SalesHistory:
    """A `SalesHistory` from a pandas DataFrame in the long or wide layout."""
    columns = {str(c): frame[c].astype(str).tolist() for c in frame.columns}
    if layout is None:
        layout = "long" if "series" in columns else "wide"
    return (_from_long if layout == "long" else _from_wide)(columns, "frame")


def select(history: SalesHistory, series) -> SalesHistory:
    """The history restricted to some series (names or indices), in that order."""
    index = [history.series.index(s) if isinstance(s, str) else int(s) for s in series]
    return SalesHistory(history.dates, tuple(history.series[i] for i in index),
                        history.sales[:, index], history.start[index],
                        {k: v[index] for k, v in history.attributes.items()})
