"""Where each dataset comes from and what fetching it must produce.

``DATASETS``: per dataset, its folder under data/ and the files it downloads (a ``Source`` each:
the file's name, which is also its name in a --mirror, and its official URLs). ``SHA256``: the
sha256 of every file written, from shared/data/PROVENANCE.md. ``OUTPUTS``: the files written.

- sst2: GLUE's ``SST-2.zip``.
- mrpc: the MSR Paraphrase Corpus files that GLUE's ``download_glue_data.py`` uses (SentEval's
  copies of ``msr_paraphrase_{train,test}.txt``) and GLUE's ``mrpc_dev_ids.tsv``. The license file
  of the corpus is not among these sources.
- imdb: Stanford's ``aclImdb_v1.tar.gz``.
- restaurant: Xu et al.'s SemEval-14 restaurant split in howardhsu/ASC_failure (pinned commit).
- cls_books: the CLS books data of moussaKam/transfer_learning_transformers (pinned commit), as
  sentencepiece pieces (``*.review.spm``) and ``*.label``, with the repository's
  ``sentencepiece.french.model``. ASSUMPTION to check online: the paths
  ``cls-books/{train,valid,test}.{review.spm,label}`` and ``sentencepiece.french.model`` at the
  repository root. ``cls-books/valid.review.spm`` is known to exist at that commit; the others
  follow the repository's documented download commands (``valid.label`` by analogy).
"""
from __future__ import annotations

from dataclasses import dataclass

GLUE = "https://dl.fbaipublicfiles.com/glue/data/"
SENTEVAL = "https://dl.fbaipublicfiles.com/senteval/senteval_data/"
ASC_FAILURE = ("https://raw.githubusercontent.com/howardhsu/ASC_failure/"
               "380a817662d626ceecc2985d731efe633440ebca/asc/rest/")
CLS_REPO = ("https://raw.githubusercontent.com/moussaKam/transfer_learning_transformers/"
            "b14c34637f62e5c6ebf86401be0f6aba1099e8ba/")


@dataclass(frozen=True)
class Source:
    """One file to download: its name (in a mirror, and in DEST if kept) and official URLs."""
    name: str
    urls: tuple[str, ...]
    keep_as: str | None = None  # copied unchanged to DEST/keep_as, checked on arrival
    crlf_to_lf: bool = False    # text whose CRLF line ends become LF before the check


@dataclass(frozen=True)
class Dataset:
    """A dataset: its folder under data/ and the files it downloads."""
    layout: str  # folder under data/ (and under shared/data/)
    sources: tuple[Source, ...]


DATASETS: dict[str, Dataset] = {
    "sst2": Dataset("glue/SST-2", (
        Source("SST-2.zip", (GLUE + "SST-2.zip",)),
    )),
    "mrpc": Dataset("glue/MRPC", (
        Source("msr_paraphrase_train.txt", (SENTEVAL + "msr_paraphrase_train.txt",),
               keep_as="msr_paraphrase_train.txt", crlf_to_lf=True),
        Source("msr_paraphrase_test.txt", (SENTEVAL + "msr_paraphrase_test.txt",),
               keep_as="msr_paraphrase_test.txt", crlf_to_lf=True),
        # GLUE's download script uses the firebase URL; the second is the copy HF datasets uses.
        Source("dev_ids.tsv", (
            "https://firebasestorage.googleapis.com/v0/b/mtl-sentence-representations.appspot.com/o/"
            "data%2Fmrpc_dev_ids.tsv?alt=media&token=ec5c0836-31d5-48f4-b431-7480817f1adc",
            GLUE + "mrpc_dev_ids.tsv",
        ), keep_as="dev_ids.tsv", crlf_to_lf=True),
    )),
    "imdb": Dataset("imdb", (
        Source("aclImdb_v1.tar.gz", ("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",)),
    )),
    "restaurant": Dataset("dsp/restaurant_sup", (
        Source("train.json", (ASC_FAILURE + "train.json",), keep_as="raw/train.json"),
        Source("dev.json", (ASC_FAILURE + "dev.json",), keep_as="raw/dev.json"),
        Source("test_full.json", (ASC_FAILURE + "test_full.json",), keep_as="raw/test_full.json"),
    )),
    "cls_books": Dataset("cls_books", (
        Source("sentencepiece.french.model", (CLS_REPO + "sentencepiece.french.model",),
               keep_as="sentencepiece.french.model"),
        *(Source(f"{split}.{kind}", (f"{CLS_REPO}cls-books/{split}.{kind}",))
          for split in ("train", "valid", "test") for kind in ("review.spm", "label")),
    )),
}

# sha256 of every file written to DEST, from shared/data/PROVENANCE.md (equal to the files in
# shared/data). Kept sources are checked as soon as they arrive, converted files before DEST is put
# in place.
SHA256: dict[str, dict[str, str]] = {
    "sst2": {
        "train.tsv": "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1",
        "dev.tsv": "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
        "test.tsv": "69a938605609b3e6663b4487918fe1565eb293734e6e520d0366d1d412fd2a13",
    },
    "mrpc": {
        "train.tsv": "122becc469405bc16f9defcb8715d2a4b7ce600e9d9381e6dc42bfdd1494c51d",
        "dev.tsv": "81c8a1a9e1dfe461dd2c1a4f98f43fe18bece44d2bf9e3d0b245b88e5aa5eaf7",
        "test.tsv": "4ee428d354c01fa35c2f0f6ab835398abb0bec01f17ed68fbcb6c04265505b0a",
        "dev_ids.tsv": "971d7767d81b997fd9060ade0ec23c4fc31cbb226a55d1bd4a1bac474eb81dc7",
        "msr_paraphrase_train.txt": "61a88818ec384d8465297dda1883b469f1b22d442ab90183d13e06233b180591",
        "msr_paraphrase_test.txt": "0360d0d3427a0ae14882e2b3a799df0fab6cb5203d5e8ee481949283da62acb6",
    },
    "imdb": {
        "train.csv": "0aad65be872850e170a869b3936cd33438d2dacbd150af621924924cfb50e631",
        "test.csv": "702c6d68152f3ac09d316f1874c4c4b306cbf58e1b33eaefac859c024d350b7b",
        "README_aclImdb.txt": "53daaefbef0d46b6da0386ac3811960cc10f42d59ceac9cecbb543f5b30c657a",
    },
    "restaurant": {
        "raw/train.json": "c63942f9c384dc1c35a16e9cdd838622d610f1cb1ea58ef7fd095e966ed7aaa5",
        "raw/dev.json": "5051f3c4b31c86c5d48ce3c654cc522194afacd8b87f2e0c90ebead04d8dafdd",
        "raw/test_full.json": "7db632b9e004f4427341fbf66c9ee5303a5ffb10e05cb474e5d64dc46d190204",
        "train.jsonl": "b22a8d2e6100805833e6f17b7509f467434f2550a6779d2fd173de19681e43d1",
        "dev.jsonl": "4cbd1bb0ff6afa5789da94dd579c7bda0d9645f9e2b76bcafa07704c585376df",
        "test.jsonl": "8a72899745eb4ac6ff0f9d353280d594f28775d8e866e4aed0d3e6d328d89357",
    },
    # The cls_books table of PROVENANCE.md lists these four values one row off (train.tsv's value
    # against the model, and so on); these are the sha256 of the files in shared/data/cls_books.
    "cls_books": {
        "sentencepiece.french.model": "4cc472d2d984575d2d1774cfc0150ff9acad6f4430f2f34901d3a30062cd164b",
        "train.tsv": "50bcc4b679e44b1deafea8f12dd14479c3ef0b5617be812bd397b20ae9c93f2d",
        "valid.tsv": "993f69fdc074d321a28e85cc91594e9dac6d518040edf4bd15e30953cb49b988",
        "test.tsv": "e35a4ea650be85f151f9fb4a80c6187a87cef0001e41fa51b96e9b39b4ba21f8",
    },
}

# Files each dataset writes (relative to DEST), in the order they are reported.
OUTPUTS: dict[str, tuple[str, ...]] = {
    "sst2": ("train.tsv", "dev.tsv", "test.tsv"),
    "mrpc": ("train.tsv", "dev.tsv", "test.tsv", "dev_ids.tsv",
             "msr_paraphrase_train.txt", "msr_paraphrase_test.txt"),
    "imdb": ("train.csv", "test.csv", "README_aclImdb.txt"),
    "restaurant": ("train.jsonl", "dev.jsonl", "test.jsonl",
                   "raw/train.json", "raw/dev.json", "raw/test_full.json"),
    "cls_books": ("train.tsv", "valid.tsv", "test.tsv", "sentencepiece.french.model"),
}
