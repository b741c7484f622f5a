"""Splits a dataset does not ship: a dev split carved out of the training split, stratified by class.

Used where a dataset has no dev split (IMDB): checkpoints are then chosen on examples that are
neither trained on nor reported as test. The carve is seeded and keeps each class's share.
"""
from __future__ import annotations

import random
from collections import defaultdict
from typing import Sequence

from .errors import DataError
from .readers import Example

SPLIT_SEED = 0


def carve_dev(examples: Sequence[Example], count: int, seed: int = SPLIT_SEED, where: str = "--dev-from-train"):
    """(train, dev): ``count`` examples drawn per class in proportion to the class sizes (largest
    remainder), the rest kept for training; both in their original order."""
    if count >= len(examples):
        raise DataError(f"{where} {count}: the training split has only {len(examples)} examples")
    by_class = defaultdict(list)
    for index, example in enumerate(examples):
        by_class[example.label].append(index)
    labels = sorted(by_class)
    exact = {label: count * len(by_class[label]) / len(examples) for label in labels}
    quota = {label: int(exact[label]) for label in labels}
    by_remainder = sorted(labels, key=lambda label: (-(exact[label] - quota[label]), label))
    for label in by_remainder[: count - sum(quota.values())]:
        quota[label] += 1
    rng = random.Random(seed)
    chosen = set()
    for label in labels:
        chosen.update(rng.sample(by_class[label], quota[label]))
    train = [e for i, e in enumerate(examples) if i not in chosen]
    dev = [e for i, e in enumerate(examples) if i in chosen]
    return train, dev
