"""Turning labelled text files into the binarized data-bin layout that fairseq's
``sentence_prediction`` task reads.

Modules, in the order ``scripts/prepare_data.py`` uses them:

- ``readers``: TSV/CSV/JSONL files into validated, normalized examples.
- ``labels``: the fixed class order and the label dictionary.
- ``dictionary``: checking a fairseq ``dict.txt``.
- ``tokenizers``: GPT-2 BPE, WordPiece and sentencepiece, chosen by option or by a model's ``model_info.json``.
- ``fingerprint``: the digest that decides whether an output is up to date.
- ``publish``: the lock, the staging directory and the atomic rename into place.
- ``binarize``: the output layout and the ``fairseq-preprocess`` runs.
- ``pipeline``: all of the above for one request.

Helpers: ``errors`` (DataError, ToolError), ``locations`` (default tokenizer files),
``fairseq_tools`` (child processes and line files).
"""
from .errors import DataError, ToolError

__all__ = ["DataError", "ToolError"]
