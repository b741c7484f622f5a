"""A task's data prepared for a model, in-process, as the recipes prepare it (benchmarks and checks use it)."""
from pathlib import Path

from ..errors import UserError
from .tasks import TASKS


def task_files(task_name):
    """(task, folder holding its files) from the project's data/ or the shared folder."""
    from .. import paths

    task = TASKS[task_name]
    for root in paths.data_roots():
        if (root / task.folder / task.train).is_file():
            return task, root / task.folder
    raise UserError(f"no {task_name} data in {' or '.join(str(r / task.folder) for r in paths.data_roots())}: "
                    f"run python scripts/fetch_data.py {task.fetch} --dest data/{task.folder}")


def prepare_task(task_name, model_dir, work_dir, max_train=None, workers=2, log=print):
    """The data-bin of ``task_name`` tokenized for ``model_dir`` (reused when up to date)."""
    from ..data import tokenizers
    from ..data.pipeline import Request, prepare
    from ..data.readers import Columns

    task, folder = task_files(task_name)
    tokenizer, dictionary = tokenizers.from_model_dir(Path(model_dir))
    inputs = {"train": folder / task.train}
    if task.dev:
        inputs["valid"] = folder / task.dev
    if task.test:
        inputs["test"] = folder / task.test
    name = task_name + (f"-{max_train}" if max_train else "")
    out_dir = Path(work_dir) / "data-bin" / f"{name}.{tokenizer.name}"
    request = Request(inputs=inputs, columns=Columns(task.text_columns, task.label_column, task.header),
                      tokenizer=tokenizer, dictionary=dictionary, dictionary_option="--model-dir", out_dir=out_dir,
                      max_train=max_train, strip_html="--strip-html" in task.prepare_options, workers=workers,
                      dev_from_train=task.dev_from_train, regression=task.regression, label_range=task.label_range)
    prepare(request, log=log)
    return out_dir
