"""A small synthetic text-classification corpus, tokenized with a real sentencepiece model and
binarized with the real ``fairseq-preprocess``, for tests that train with ``fairseq-train``.

Sentences mix topic words with shared filler. Four sub-topics (a1, a2 -> class "pos"; b1, b2 ->
class "neg") give a 4-way "pretraining" task and the binary task that is fine-tuned on it.
"""
import random
import subprocess
import sys
from pathlib import Path

import sentencepiece as spm

SUBTOPICS = {"a1": "pos", "a2": "pos", "b1": "neg", "b2": "neg"}
SYLLABLES = ["ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "vu", "ze"]


def _words(tag, count, rng):
    return [tag + "".join(rng.choice(SYLLABLES) for _ in range(2)) for _ in range(count)]


def sentences(n, seed):
    """n (text, subtopic, label) triples."""
    rng = random.Random(seed)
    vocab_rng = random.Random(1234)  # the same words in every split
    topic_words = {t: _words(t[0] + t[1], 25, vocab_rng) for t in SUBTOPICS}
    filler = _words("x", 60, vocab_rng)
    rows = []
    for _ in range(n):
        subtopic = rng.choice(sorted(SUBTOPICS))
        length = rng.randint(5, 14)
        words = [rng.choice(topic_words[subtopic]) if rng.random() < 0.35 else rng.choice(filler)
                 for _ in range(length)]
        rows.append((" ".join(words), subtopic, SUBTOPICS[subtopic]))
    return rows


def _preprocess(args):
    subprocess.run([sys.executable, "-m", "fairseq_cli.preprocess", "--only-source", "--workers", "1", *args],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def build(root: Path, n_train=1600, n_valid=300):
    """Write raw splits, a sentencepiece model and two data-bins (4-way pretraining, binary fine-tuning).

    Returns a dict of paths: raw, spm_model, pretrain_bin, finetune_bin.
    """
    raw = root / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    splits = {"train": sentences(n_train, seed=1), "valid": sentences(n_valid, seed=2)}
    for split, rows in splits.items():
        (raw / f"{split}.txt").write_text("".join(r[0] + "\n" for r in rows))
        (raw / f"{split}.subtopic").write_text("".join(r[1] + "\n" for r in rows))
        (raw / f"{split}.label").write_text("".join(r[2] + "\n" for r in rows))
    spm.SentencePieceTrainer.train(
        input=str(raw / "train.txt"), model_prefix=str(raw / "spm"), vocab_size=120,
        character_coverage=1.0, model_type="unigram", minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_file=str(raw / "spm.model"))
    for split, rows in splits.items():
        (raw / f"{split}.bpe").write_text("".join(" ".join(sp.encode(r[0], out_type=str)) + "\n" for r in rows))

    pretrain_bin, finetune_bin = root / "pretrain-bin", root / "finetune-bin"
    _preprocess(["--trainpref", str(raw / "train.bpe"), "--validpref", str(raw / "valid.bpe"),
                 "--destdir", str(pretrain_bin / "input0")])
    (finetune_bin / "input0").mkdir(parents=True)
    for f in (pretrain_bin / "input0").iterdir():
        (finetune_bin / "input0" / f.name).write_bytes(f.read_bytes())
    for data_bin, suffix in ((pretrain_bin, "subtopic"), (finetune_bin, "label")):
        _preprocess(["--trainpref", str(raw / f"train.{suffix}"), "--validpref", str(raw / f"valid.{suffix}"),
                     "--destdir", str(data_bin / "label")])
    return {"raw": raw, "spm_model": raw / "spm.model", "pretrain_bin": pretrain_bin, "finetune_bin": finetune_bin}
