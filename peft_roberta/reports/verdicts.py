"""Verdicts on a finding from the seeds' values: "held", "did not hold" or "inconclusive".

Two kinds of claim: "A beats B" (Welch's t-test, ``judge_greater``) and "the groups differ little"
(an equivalence test of every pair of groups against a stated margin, ``judge_similar``). The
statistics are ``peft_roberta.analysis.stats``; the rules are written into the report from
``rules_values``. No fairseq or torch import.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from ..analysis import stats

ALPHA = stats.ALPHA  # level of every test
CONFIDENCE = 0.95  # the confidence interval of a difference quoted with Welch's test
EQUIVALENCE_MARGIN = 1.0  # accuracy points: a larger difference is not "little difference"
MIN_SEEDS = 2  # per group: a test needs a spread


@dataclass
class Verdict:
    label: str  # held | did not hold | inconclusive | not run yet
    reason: str


def percent(level: float) -> str:
    return f"{level:.0%}"


def rules_values(margin=EQUIVALENCE_MARGIN, alpha=ALPHA) -> dict:
    """The figures the rules text quotes: test level, interval levels and the equivalence margin."""
    return {"alpha": f"{alpha:g}", "confidence": percent(CONFIDENCE), "margin": f"{margin:g}",
            "tost_confidence": percent(1 - 2 * alpha), "min_seeds": MIN_SEEDS}


def seeds_text(values) -> str:
    """``mean ± std (n seeds)`` with one decimal; ``mean (1 seed)``; ``–`` for none."""
    values = np.asarray(values, float)
    if values.size == 0:
        return "–"
    if values.size == 1:
        return f"{values[0]:.1f} (1 seed)"
    return f"{values.mean():.1f} ± {values.std(ddof=1):.1f} ({values.size} seeds)"


def p_text(p) -> str:
    return "n/a" if math.isnan(p) else f"{p:.2g}"


def judge_greater(a, b, name_a, name_b, published_gap, metric="accuracy") -> Verdict:
    """Claim: ``a`` beats ``b`` (published gap ``published_gap`` points).

    held: a > b with Welch p < ALPHA; did not hold: b > a with p < ALPHA, or the CONFIDENCE interval
    of a - b lies below half the published gap; inconclusive otherwise, or with fewer than 2 seeds a side.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < MIN_SEEDS or b.size < MIN_SEEDS:
        return Verdict("inconclusive", f"{name_a} has {a.size} and {name_b} {b.size} seeds with a {metric}; "
                                       f"Welch's test needs at least {MIN_SEEDS} a side.")
    w = stats.welch(a, b, confidence=CONFIDENCE)
    ours = f"{name_a} {seeds_text(a)} vs {name_b} {seeds_text(b)}"
    gap = (f"{w['diff']:+.1f} points ({percent(CONFIDENCE)} CI {w['low']:+.1f} to {w['high']:+.1f}, "
           f"Welch p = {p_text(w['p'])})")
    if math.isnan(w["p"]):
        return Verdict("inconclusive", f"{ours}: no seed-to-seed variance on either side, so no test is possible.")
    if w["p"] < ALPHA and w["diff"] > 0:
        return Verdict("held", f"{ours} {metric}: {name_a} leads by {gap}; published gap {published_gap:.1f} points.")
    if w["p"] < ALPHA and w["diff"] < 0:
        return Verdict("did not hold", f"{ours} {metric}: {name_b} is ahead instead, {gap}; "
                                       f"published gap {published_gap:+.1f} points for {name_a}.")
    if w["high"] < published_gap / 2:
        return Verdict("did not hold", f"{ours} {metric}: {gap}, so even half the published gap of "
                                       f"{published_gap:.1f} points is outside the {percent(CONFIDENCE)} CI.")
    return Verdict("inconclusive", f"{ours} {metric}: {gap}; the seeds' spread leaves both no gap and "
                                   f"half the published {published_gap:.1f} points possible.")


def _pair_text(name_a, name_b, result, digits=1) -> str:
    level = percent(1 - 2 * ALPHA)
    return (f"{name_a} − {name_b} = {result['diff']:+.{digits}f} points ({level} CI "
            f"{result['low']:+.{digits}f} to {result['high']:+.{digits}f})")


def judge_similar(groups: dict, margin=EQUIVALENCE_MARGIN, metric="accuracy") -> Verdict:
    """Claim: the groups (label -> values) differ little, i.e. by less than ``margin`` points.

    Every pair of groups is tested for equivalence (two one-sided Welch tests, ``stats.equivalence``).
    held: every pair is equivalent at ALPHA; did not hold: some pair's (1 - 2 ALPHA) confidence
    interval of the difference lies entirely outside ±margin; inconclusive otherwise, with fewer than
    MIN_SEEDS seeds in a group, or where a pair has no seed-to-seed variance (no test possible).
    """
    groups = {k: np.asarray(v, float) for k, v in groups.items()}
    if len(groups) < 2:
        return Verdict("inconclusive", f"only {len(groups)} of the configurations have results.")
    few = [k for k, v in groups.items() if v.size < MIN_SEEDS]
    if few:
        return Verdict("inconclusive", f"{', '.join(map(str, few))} {'has' if len(few) == 1 else 'have'} "
                                       f"fewer than {MIN_SEEDS} seeds; the spread cannot be judged.")
    listing = f"{metric} " + ", ".join(f"{k}: {seeds_text(v)}" for k, v in groups.items())
    pairs = [(name_a, name_b, stats.equivalence(a, b, margin, ALPHA))
             for (name_a, a), (name_b, b) in itertools.combinations(groups.items(), 2)]
    apart = [(na, nb, r) for na, nb, r in pairs if r["low"] > margin or r["high"] < -margin]
    if apart:
        name_a, name_b, result = max(apart, key=lambda item: abs(item[2]["diff"]))
        return Verdict("did not hold", f"{listing}: {_pair_text(name_a, name_b, result)}, entirely outside "
                                       f"±{margin:g} point.")
    untested = [(na, nb) for na, nb, r in pairs if math.isnan(r["p"])]
    if untested:
        return Verdict("inconclusive", f"{listing}: {untested[0][0]} and {untested[0][1]} have no seed-to-seed "
                                       "variance, so no equivalence test is possible.")
    name_a, name_b, worst = max(pairs, key=lambda item: item[2]["p"])
    if worst["p"] < ALPHA:
        return Verdict("held", f"{listing}: every pair of the {len(groups)} groups is shown to lie within "
                               f"±{margin:g} point of each other (largest equivalence p = {p_text(worst['p'])}, for "
                               f"{_pair_text(name_a, name_b, worst, 2)}).")
    return Verdict("inconclusive", f"{listing}: {_pair_text(name_a, name_b, worst)} is neither shown within "
                                   f"±{margin:g} point (equivalence p = {p_text(worst['p'])}) nor outside it: "
                                   "the seeds' spread is too wide to tell.")
