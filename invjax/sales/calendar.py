"""Calendar features of a sales history: weeks to the next holiday, or week of year.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 7; SPEC §10 (the
data-driven net reads "weeks to a holiday").
"""

from __future__ import annotations

from typing import Optional

import numpy as np

HORIZON_WEEKS = 52.0  # features are divided by this, so they lie in [0, 1]


def default_holidays(first_year: int, last_year: int) -> np.ndarray:
    """The holidays the shipped data set uses: US Independence Day, Thanksgiving (4th
    Thursday of November) and Christmas, for every year in the range (and the next)."""
    days = []
    for year in range(first_year, last_year + 2):
        nov1 = np.datetime64(f"{year}-11-01")
        since_thursday = nov1.astype(np.int64) % 7  # 1970-01-01 was a Thursday
        first_thursday = nov1 + (-since_thursday) % 7
        days += [np.datetime64(f"{year}-07-04"), first_thursday + 21,
                 np.datetime64(f"{year}-12-25")]
    return np.sort(np.asarray(days, dtype="datetime64[D]"))


def weeks_to_holiday(dates: np.ndarray, holidays: np.ndarray) -> np.ndarray:
    """Whole weeks from each period's first day to the next holiday on or after it."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    holidays = np.sort(np.asarray(holidays, dtype="datetime64[D]"))
    index = np.searchsorted(holidays, dates)
    if np.any(index >= holidays.size):
        raise ValueError("holidays: the list must reach past the last date of the history")
    return (holidays[index] - dates).astype(np.int64) // 7


def calendar_features(dates: np.ndarray, holidays: Optional[np.ndarray] = None) -> np.ndarray:
    """[T, 1] calendar feature in [0, 1] per period.

    With dates: weeks to the next holiday (`holidays`, default `default_holidays`), capped
    at 52, / 52. With integer periods: the period's position in a 52-period year.
    """
    dates = np.asarray(dates)
    if not np.issubdtype(dates.dtype, np.datetime64):
        return ((dates % 52) / HORIZON_WEEKS)[:, None].astype(np.float32)
    years = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    if holidays is None:
        holidays = default_holidays(int(years.min()), int(years.max()))
    weeks = np.minimum(weeks_to_holiday(dates, holidays), HORIZON_WEEKS)
    return (weeks / HORIZON_WEEKS)[:, None].astype(np.float32)
