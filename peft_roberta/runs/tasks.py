"""The datasets the recipes know: where their files are, which columns hold text and label, how they
are split, which split chooses what, and which metric a task is judged (and its checkpoint chosen) on.

Every task keeps its test split away from any choice: checkpoints (and a sweep's configuration)
are chosen on ``dev``. Where a dataset has no dev split, one is carved out of its training split
(stratified, seeded, ``dev_from_train`` examples). Where a dataset has no labelled test split
(GLUE's), the published convention reports the dev split that chose the checkpoint, and the
tables say so (``reports_selection_split``).

GLUE tasks are read in GLUE's own files (the layout of its download script) and judged on the
metric GLUE and the LoRA paper report: CoLA Matthews correlation, STS-B Pearson (a regression),
MNLI matched accuracy (mismatched dev beside it, choosing nothing), the others accuracy (MRPC
and QQP with F1 beside).
"""
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Task:
    name: str
    folder: str  # under a data root (the project's data/, ../shared/data) or GLUE_DIR
    fetch: str  # the scripts/fetch_data.py dataset that downloads it ("" none)
    train: str
    dev: Optional[str]  # None: carved out of the training split
    test: Optional[str]  # a labelled evaluation split that chooses nothing
    text_columns: tuple
    label_column: str
    prepare_options: tuple = ()
    dev_from_train: Optional[int] = None  # examples of the training split set aside as dev (seeded, stratified)
    notes: str = ""
    glue: bool = False  # GLUE_DIR may hold it
    custom: bool = False  # recipes/custom.sh: the user's own files (absolute paths), any name
    metric: str = "accuracy"  # the headline metric: the best checkpoint is chosen on it, tables lead with it
    regression: bool = False  # a number to predict (fairseq's --regression-target, one output, MSE)
    label_range: Optional[tuple] = None  # a regression label must lie in it
    header: tuple = ()  # the columns of files without a header row (CoLA)
    test_name: str = "test"  # what the test slot is (MNLI: its mismatched dev)

    @property
    def reports_selection_split(self):
        """No labelled test split: the reported figure is the dev split that chose the checkpoint."""
        return self.test is None

    def fairseq_options(self):
        """fairseq-train options of the task: the metric the best checkpoint is chosen on, regression."""
        options = ["--best-checkpoint-metric", self.metric, "--maximize-best-checkpoint-metric"]
        if self.regression:
            options += ["--regression-target", "--report-pearson-and-spearman"]
        elif self.metric == "mcc":
            options.append("--report-mcc")
        return options

    def prepare_data_options(self):
        """prepare_data.py options the task's files need beyond files and columns."""
        options = list(self.prepare_options)
        if self.header:
            options += ["--column-names", ",".join(self.header)]
        if self.regression:
            options.append("--regression")
            if self.label_range:
                options += ["--label-range", ",".join(f"{bound:g}" for bound in self.label_range)]
        return options


GLUE_TASKS = (
    Task("sst2", "glue/SST-2", "sst2", "train.tsv", "dev.tsv", None, ("sentence",), "label", glue=True,
         notes="GLUE has no labelled SST-2 test: dev is reported, as GLUE and the LoRA paper do"),
    Task("mrpc", "glue/MRPC", "mrpc", "train.tsv", "dev.tsv", "msr_paraphrase_test.txt",
         ("#1 String", "#2 String"), "Quality", glue=True,
         notes="test: Microsoft's labelled test file (the rows of GLUE's test.tsv)"),
    Task("cola", "glue/CoLA", "", "train.tsv", "dev.tsv", None, ("sentence",), "label", glue=True, metric="mcc",
         header=("source", "label", "original_mark", "sentence"),
         notes="CoLA v1.0 as GLUE ships it: no header row; judged on Matthews correlation"),
    Task("stsb", "glue/STS-B", "", "train.tsv", "dev.tsv", None, ("sentence1", "sentence2"), "score", glue=True,
         metric="pearson", regression=True, label_range=(0.0, 5.0),
         notes="a regression of 0-5 similarity scores, judged on Pearson's correlation"),
    Task("mnli", "glue/MNLI", "", "train.tsv", "dev_matched.tsv", "dev_mismatched.tsv",
         ("sentence1", "sentence2"), "gold_label", glue=True, test_name="dev mismatched",
         notes="chosen on matched dev; mismatched dev is reported beside it and chooses nothing"),
    Task("qnli", "glue/QNLI", "", "train.tsv", "dev.tsv", None, ("question", "sentence"), "label", glue=True),
    Task("qqp", "glue/QQP", "", "train.tsv", "dev.tsv", None, ("question1", "question2"), "is_duplicate", glue=True),
    Task("rte", "glue/RTE", "", "train.tsv", "dev.tsv", None, ("sentence1", "sentence2"), "label", glue=True),
)

TASKS = {task.name: task for task in GLUE_TASKS + (
    Task("imdb", "imdb", "imdb", "train.csv", None, "test.csv", ("text",), "label", ("--strip-html",),
         dev_from_train=2000,
         notes="IMDB has no dev split: 2,000 training reviews (stratified, seed 0) are set aside as dev"),
    Task("cls_books", "cls_books", "cls_books", "train.tsv", "valid.tsv", "test.tsv", ("sentence",), "label"),
    Task("restaurant", "dsp/restaurant_sup", "restaurant", "train.jsonl", "dev.jsonl", "test.jsonl",
         ("aspect", "text"), "label"),
)}
