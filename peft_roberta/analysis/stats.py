"""Statistics over seeds, all from scipy: a mean's confidence interval, Welch's test, and the
equivalence test (two one-sided Welch tests, TOST) that a claim of "little difference" needs.

No fairseq or torch import.
"""
import math
import warnings

import numpy as np
from scipy import stats

ALPHA = 0.05


def _array(values):
    return np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)


def describe(values, confidence=0.95) -> dict:
    """n, mean, sample std, min, max and the Student-t confidence interval of the mean (NaN for n < 2)."""
    x = _array(values)
    out = {"n": int(x.size), "mean": math.nan, "std": math.nan, "min": math.nan, "max": math.nan,
           "ci_low": math.nan, "ci_high": math.nan}
    if x.size == 0:
        return out
    out.update(mean=float(x.mean()), min=float(x.min()), max=float(x.max()))
    if x.size >= 2:
        out["std"] = float(x.std(ddof=1))
        if out["std"] > 0:
            low, high = stats.t.interval(confidence, x.size - 1, loc=out["mean"], scale=stats.sem(x))
            out.update(ci_low=float(low), ci_high=float(high))
        else:
            out.update(ci_low=out["mean"], ci_high=out["mean"])
    return out


def ci_half_width(std, n, confidence=0.95) -> float:
    """Half-width of the Student-t confidence interval of a mean from its std and n; NaN for n < 2."""
    if n is None or n < 2 or not np.isfinite(std):
        return math.nan
    return float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / math.sqrt(n))


def _welch(a, b, **kwargs):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return stats.ttest_ind(a, b, equal_var=False, **kwargs)


def welch(a, b, confidence=0.95) -> dict:
    """Welch's t-test of mean(a) - mean(b): diff, t, p (two-sided) and the confidence interval of diff.

    t, p and the interval are NaN with fewer than 2 values a side or no variance on either side.
    """
    a, b = _array(a), _array(b)
    out = {"diff": float(a.mean() - b.mean()) if a.size and b.size else math.nan,
           "t": math.nan, "p": math.nan, "low": math.nan, "high": math.nan, "n_a": int(a.size), "n_b": int(b.size)}
    if a.size < 2 or b.size < 2 or (a.var(ddof=1) + b.var(ddof=1)) == 0:
        return out
    result = _welch(a, b)
    interval = result.confidence_interval(confidence)
    out.update(t=float(result.statistic), p=float(result.pvalue), low=float(interval.low), high=float(interval.high))
    return out


def equivalence(a, b, margin, alpha=ALPHA) -> dict:
    """Two one-sided Welch tests (TOST) that |mean(a) - mean(b)| < ``margin``.

    p is the larger of the two one-sided p-values: below ``alpha``, the difference lies within
    ±margin at that level; the (1 - 2 alpha) confidence interval of the difference is returned with it.
    """
    a, b = _array(a), _array(b)
    out = {"diff": float(a.mean() - b.mean()) if a.size and b.size else math.nan, "margin": float(margin),
           "p": math.nan, "p_lower": math.nan, "p_upper": math.nan, "low": math.nan, "high": math.nan}
    if a.size < 2 or b.size < 2 or (a.var(ddof=1) + b.var(ddof=1)) == 0:
        return out
    # shifting a by a constant moves the difference and leaves the variances: a one-sided Welch
    # test of (a + margin) - b > 0 is the test of diff > -margin
    lower = _welch(a + margin, b, alternative="greater")
    upper = _welch(a - margin, b, alternative="less")
    interval = _welch(a, b).confidence_interval(1 - 2 * alpha)
    out.update(p_lower=float(lower.pvalue), p_upper=float(upper.pvalue),
               p=float(max(lower.pvalue, upper.pvalue)), low=float(interval.low), high=float(interval.high))
    return out


def adjusted(pvalues) -> list:
    """Benjamini-Hochberg adjusted p-values (scipy's false_discovery_control) of a table's family of
    tests; a missing p (NaN: no test possible) stays missing and does not count in the family."""
    values = np.asarray(pvalues, dtype=float)
    out = np.full(values.shape, math.nan)
    finite = np.isfinite(values)
    if finite.any():
        out[finite] = stats.false_discovery_control(values[finite], method="bh")
    return out.tolist()
