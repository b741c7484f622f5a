"""The three tokenizers, each turning texts into lines of space-separated tokens for fairseq-preprocess.

- ``gpt2``: fairseq's GPT-2 BPE encoder script (tokens are GPT-2 ids), for the official RoBERTa.
- ``wordpiece``: fairseq's ``bert`` BPE (transformers' BertTokenizer) with a vocab.txt.
- ``sentencepiece``: pieces of a sentencepiece model, given or trained here on the training texts.

A tokenizer is chosen by options (``from_options``) or by a model directory's ``model_info.json``
(``from_model_dir``).
"""
from __future__ import annotations

import io
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Sequence

from . import locations
from .errors import DataError
from .fairseq_tools import package_version, read_lines, run_tool, write_lines
from .fingerprint import file_sha256

KINDS = ("gpt2", "wordpiece", "sentencepiece")  # --tokenizer choices
SENTENCEPIECE_MODEL_NAME = "sentencepiece.model"


class Tokenizer(ABC):
    name: str  # part of the default output directory, data-bin/<task>.<name>

    @abstractmethod
    def identity(self) -> dict:
        """Everything about the tokenizer that changes its output, for the fingerprint."""

    @abstractmethod
    def encode_columns(self, columns: Sequence[Sequence[str]], work_dir: Path, workers: int) -> list[list[str]]:
        """One line of tokens per text, column by column."""

    def default_dictionary(self) -> Path | None:
        """The dictionary to use when none is given; None lets fairseq-preprocess build one."""
        return None

    def files(self) -> dict:
        """The tokenizer's files, by the key ``model_info.json``'s tokenizer spec names them with."""
        return {}

    def spec(self) -> dict:
        """The tokenizer spec (as in ``model_info.json``), naming the files as :meth:`files` stores them."""
        raise NotImplementedError

    def prepare(self, training_texts: Sequence[str], out_dir: Path, workers: int) -> str | None:
        """Build what the tokenizer needs from the training texts (into ``out_dir``); returns a
        progress line when there was something to build."""
        return None


class Gpt2Bpe(Tokenizer):
    name = "gpt2"

    def __init__(self, encoder_json: Path, vocab_bpe: Path):
        self.encoder_json, self.vocab_bpe = encoder_json, vocab_bpe

    def identity(self):
        return {"type": "gpt2", "encoder_json": file_sha256(self.encoder_json),
                "vocab_bpe": file_sha256(self.vocab_bpe), "library": package_version("fairseq-fixed", "fairseq")}

    def default_dictionary(self):
        return locations.roberta_dictionary()

    def files(self):
        return {"encoder_json": self.encoder_json, "vocab_bpe": self.vocab_bpe}

    def spec(self):
        return {"type": "gpt2", "encoder_json": "encoder.json", "vocab_bpe": "vocab.bpe"}

    def encode_columns(self, columns, work_dir, workers):
        # The encoder reads its inputs in parallel, line by line: one file per column, same length.
        inputs = [work_dir / f"gpt2-column{i}.txt" for i in range(len(columns))]
        outputs = [work_dir / f"gpt2-column{i}.bpe" for i in range(len(columns))]
        for path, texts in zip(inputs, columns):
            write_lines(path, texts)
        run_tool([sys.executable, "-m", "fairseq.examples.roberta.multiprocessing_bpe_encoder",
                  "--encoder-json", str(self.encoder_json), "--vocab-bpe", str(self.vocab_bpe),
                  "--inputs", *map(str, inputs), "--outputs", *map(str, outputs),
                  "--keep-empty", "--workers", str(workers)], "GPT-2 BPE encoder")
        encoded = [read_lines(path) for path in outputs]
        for path, lines, texts in zip(outputs, encoded, columns):
            if len(lines) != len(texts):
                raise RuntimeError(f"{path}: {len(lines)} lines for {len(texts)} texts")
        return encoded


class WordPiece(Tokenizer):
    def __init__(self, vocab: Path, lowercase: bool = True):
        self.vocab, self.lowercase = vocab, lowercase
        self.name = f"wordpiece-{file_sha256(vocab)[:8]}"

    def identity(self):
        return {"type": "wordpiece", "vocab": file_sha256(self.vocab), "lowercase": self.lowercase,
                "library": package_version("transformers")}

    def files(self):
        return {"vocab": self.vocab}

    def spec(self):
        return {"type": "wordpiece", "vocab": "vocab.txt", "lowercase": self.lowercase}

    def encode_columns(self, columns, work_dir, workers):
        from fairseq.data.encoders.hf_bert_bpe import BertBPE, BertBPEConfig

        bpe = BertBPE(BertBPEConfig(bpe_cased=not self.lowercase, bpe_vocab_file=str(self.vocab)))
        return [[bpe.encode(text) for text in texts] for texts in columns]


class SentencePiece(Tokenizer):
    """A given sentencepiece model, or (``train_vocab_size``) a unigram model trained by ``prepare``."""
    MODEL_TYPE = "unigram"
    # sentencepiece skips longer training sentences (default 4192 bytes); long reviews should count.
    MAX_SENTENCE_BYTES = 1 << 20

    def __init__(self, model: Path | None = None, train_vocab_size: int | None = None, seed: int = 0):
        self.model, self.train_vocab_size, self.seed = model, train_vocab_size, seed
        if model is not None:
            self.name = f"spm-{file_sha256(model)[:8]}"
        else:
            self.name = f"spm-trained{train_vocab_size}"

    def identity(self):
        identity = {"type": "sentencepiece", "library": package_version("sentencepiece")}
        if self.train_vocab_size is not None:
            return {**identity, "train_vocab_size": self.train_vocab_size, "model_type": self.MODEL_TYPE,
                    "seed": self.seed}
        return {**identity, "model": file_sha256(self.model)}

    def files(self):
        return {"model": self.model}

    def spec(self):
        return {"type": "sentencepiece", "model": SENTENCEPIECE_MODEL_NAME}

    def prepare(self, training_texts, out_dir, workers):
        if self.train_vocab_size is None:
            return None
        import sentencepiece as spm

        # Written through model_writer: a model_prefix would be stored in the model and change its bytes.
        model = io.BytesIO()
        spm.set_random_generator_seed(self.seed)
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(training_texts), model_writer=model,
                vocab_size=self.train_vocab_size, model_type=self.MODEL_TYPE, num_threads=workers,
                max_sentence_length=self.MAX_SENTENCE_BYTES, minloglevel=2)
        except RuntimeError as exc:
            message = " ".join(str(exc).split())
            raise DataError(f"--train-sentencepiece: sentencepiece training failed: {message}") from None
        (out_dir / "tokenizer").mkdir(exist_ok=True)  # the output's tokenizer folder (binarize.TOKENIZER_DIR)
        self.model = out_dir / "tokenizer" / SENTENCEPIECE_MODEL_NAME
        self.model.write_bytes(model.getvalue())
        return (f"trained a {self.train_vocab_size}-piece {self.MODEL_TYPE} sentencepiece model "
                f"on {len(training_texts)} training texts")

    def encode_columns(self, columns, work_dir, workers):
        import sentencepiece as spm

        processor = spm.SentencePieceProcessor(model_file=str(self.model))
        return [[" ".join(pieces) for pieces in processor.encode(list(texts), out_type=str, num_threads=workers)]
                for texts in columns]


def from_options(kind: str, tokenizer_file: Path | None, cased: bool = False,
                 train_vocab_size: int | None = None, seed: int = 0) -> Tokenizer:
    """The tokenizer named by ``--tokenizer``, with its file (or the default one)."""
    if kind == "gpt2":
        folder = tokenizer_file or locations.gpt2_bpe_dir()
        if not folder.is_dir():
            hint = "" if tokenizer_file else " (the default; is the shared folder missing?)"
            raise DataError(f"{folder}: no folder holding encoder.json and vocab.bpe{hint} (--tokenizer-file)")
        return Gpt2Bpe(_existing(folder / "encoder.json", "--tokenizer-file"),
                       _existing(folder / "vocab.bpe", "--tokenizer-file"))
    if kind == "wordpiece":
        vocab = tokenizer_file or locations.default_wordpiece_vocab()
        if vocab is None:
            raise DataError(f"--tokenizer-file: no vocab.txt given and the package "
                            f"{locations.DEFAULT_WORDPIECE_PACKAGE} is not installed")
        return WordPiece(_existing(vocab, "--tokenizer-file"), lowercase=not cased)
    if train_vocab_size is not None:
        if tokenizer_file is not None:
            raise DataError("--train-sentencepiece: not with --tokenizer-file (train a new model or use a given one)")
        return SentencePiece(train_vocab_size=train_vocab_size, seed=seed)
    if tokenizer_file is None:
        raise DataError("--tokenizer-file: sentencepiece needs a model file, or --train-sentencepiece VOCAB_SIZE")
    return SentencePiece(_existing(tokenizer_file, "--tokenizer-file"))


def from_model_dir(model_dir: Path) -> tuple[Tokenizer, Path]:
    """The tokenizer described by ``model_dir/model_info.json`` and the model's ``dict.txt``."""
    from ..model_dir import MODEL_INFO, tokenizer_spec

    info_path = model_dir / MODEL_INFO
    spec = tokenizer_spec(model_dir)
    kind = spec["type"]

    def named_file(key: str) -> Path:
        name = spec.get(key)
        if not isinstance(name, str) or not name:
            raise DataError(f"{info_path}: the {kind} tokenizer needs \"{key}\" (a file name)")
        return _existing(model_dir / name, f"named in {info_path}")

    if kind == "gpt2":
        tokenizer = Gpt2Bpe(named_file("encoder_json"), named_file("vocab_bpe"))
    elif kind == "wordpiece":
        lowercase = spec.get("lowercase", True)
        if not isinstance(lowercase, bool):
            raise DataError(f"{info_path}: \"lowercase\" must be true or false")
        tokenizer = WordPiece(named_file("vocab"), lowercase)
    else:
        tokenizer = SentencePiece(named_file("model"))
    dictionary = model_dir / "dict.txt"
    if not dictionary.is_file():
        raise DataError(f"{dictionary}: no such file (--model-dir needs the model's dictionary)")
    return tokenizer, dictionary


def _existing(path: Path, where: str) -> Path:
    if not path.is_file():
        raise DataError(f"{path}: no such file ({where})")
    return path
