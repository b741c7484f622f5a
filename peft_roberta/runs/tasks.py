"""The datasets the recipes know: where their files are, which columns hold text and label, how
they are split, and which split chooses what.

Every task keeps its test split away from any choice: checkpoints (and a sweep's configuration)
are chosen on ``dev``. Where a dataset has no dev split, one is carved out of its training split
(stratified, seeded, ``dev_from_train`` examples). Where a dataset has no labelled test split
(GLUE's), the published convention reports the dev split that chose the checkpoint, and the
tables say so (``reports_selection_split``).
"""
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Task:
    name: str
    folder: str  # under a data root (the project's data/, ../shared/data) or GLUE_DIR
    fetch: str  # the scripts/fetch_data.py dataset that downloads it
    train: str
    dev: Optional[str]  # None: carved out of the training split
    test: Optional[str]
    text_columns: tuple
    label_column: str
    prepare_options: tuple = ()
    dev_from_train: Optional[int] = None  # examples of the training split set aside as dev (seeded, stratified)
    notes: str = ""
    glue: bool = False  # GLUE_DIR may hold it
    custom: bool = False  # recipes/custom.sh: the user's own files (absolute paths), any name

    @property
    def reports_selection_split(self):
        """No labelled test split: the reported figure is the dev split that chose the checkpoint."""
        return self.test is None


TASKS = {task.name: task for task in (
    Task("sst2", "glue/SST-2", "sst2", "train.tsv", "dev.tsv", None, ("sentence",), "label", glue=True,
         notes="GLUE has no labelled SST-2 test: dev is reported, as GLUE and the LoRA paper do"),
    Task("mrpc", "glue/MRPC", "mrpc", "train.tsv", "dev.tsv", "msr_paraphrase_test.txt",
         ("#1 String", "#2 String"), "Quality", glue=True,
         notes="test: Microsoft's labelled test file (the rows of GLUE's test.tsv)"),
    Task("imdb", "imdb", "imdb", "train.csv", None, "test.csv", ("text",), "label", ("--strip-html",),
         dev_from_train=2000,
         notes="IMDB has no dev split: 2,000 training reviews (stratified, seed 0) are set aside as dev"),
    Task("cls_books", "cls_books", "cls_books", "train.tsv", "valid.tsv", "test.tsv", ("sentence",), "label"),
    Task("restaurant", "dsp/restaurant_sup", "restaurant", "train.jsonl", "dev.jsonl", "test.jsonl",
         ("aspect", "text"), "label"),
)}
