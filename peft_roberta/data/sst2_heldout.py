"""A labelled test split for SST-2, whose GLUE test labels are not public: whole training sentences
set aside, never trained on.

SST-2's training file lists sentences and the phrases inside them. A held-out sentence must not be
trained on as a phrase of a longer training line either, so only sentences that occur in no longer
line are candidates; and the phrases found only inside held-out sentences leave training with them.
The choice is seeded (seed 0); the split is written once and reused while its source and size are
unchanged (``split.json`` records both).
"""
import json
import os
import random
import shutil
import tempfile


def stamp_of(source, held_out, seed=0):
    return {"source": os.path.abspath(source), "size": os.path.getsize(source),
            "mtime_ns": os.stat(source).st_mtime_ns, "held_out": held_out, "seed": seed}


def is_current(split_dir, stamp):
    try:
        with open(os.path.join(split_dir, "split.json"), encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return False
    return {key: saved.get(key) for key in stamp} == stamp


def choose(lines, held_out, seed=0):
    """(held-out line indices, indices of phrases found only inside them) of SST-2's training lines."""
    text = [" " + line.split("\t")[0].strip() + " " for line in lines]
    # a whole sentence is in no longer line: search only the lines before it in longest-first order
    order = sorted(range(len(lines)), key=lambda i: -len(text[i]))
    start, position = {}, 0
    for i in order:
        start[i], position = position, position + len(text[i]) + 1
    longest_first = "\n".join(text[i] for i in order)
    candidates = list(range(len(lines)))
    random.Random(seed).shuffle(candidates)
    test = []
    for i in candidates:
        if len(test) == held_out:
            break
        if longest_first.find(text[i], 0, start[i]) == -1:
            test.append(i)
    test_set = set(test)
    inside_test = "\n".join(text[i] for i in test)
    inside = {i for i in range(len(lines)) if i not in test_set and text[i] in inside_test}
    elsewhere = "\n".join(text[i] for i in range(len(lines)) if i not in test_set and i not in inside)
    return test, {i for i in inside if text[i] not in elsewhere}


def write_split(source, split_dir, held_out, seed=0):
    """Write ``split_dir/{train,test}.tsv`` and ``split.json`` (atomically); returns a summary line or None."""
    stamp = stamp_of(source, held_out, seed)
    if is_current(split_dir, stamp):
        return None
    with open(source, encoding="utf-8") as f:
        header, lines = f.readline(), [line for line in f if line.strip()]
    test, dropped = choose(lines, held_out, seed)
    test_set = set(test)
    parent = os.path.dirname(os.path.abspath(split_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".heldout.")
    with open(os.path.join(tmp, "train.tsv"), "w", encoding="utf-8") as f:
        f.write(header + "".join(lines[i] for i in range(len(lines)) if i not in test_set and i not in dropped))
    with open(os.path.join(tmp, "test.tsv"), "w", encoding="utf-8") as f:
        f.write(header + "".join(lines[i] for i in sorted(test)))
    train = len(lines) - len(test) - len(dropped)
    with open(os.path.join(tmp, "split.json"), "w", encoding="utf-8") as f:
        json.dump({**stamp, "test": len(test), "dropped_phrases": len(dropped), "train": train}, f)
    if os.path.isdir(split_dir):
        shutil.rmtree(split_dir, ignore_errors=True)
    try:
        os.rename(tmp, split_dir)
    except OSError:  # another recipe wrote it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return (f"held-out test: {len(test)} training sentences; {len(dropped)} phrases found only inside them "
            f"left out of training; {train} training lines -> {split_dir}")
