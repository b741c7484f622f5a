"""The model directory and the SST-2 data of a measurement, in a child process (``measure.run_child``), so
that what preparing them imports and allocates stays out of the measuring process's memory figures.

    python -m peft_roberta.bench.prepare SPEC.json RESULT.json
"""
import sys

from .measure import child_main


def prepare(spec):
    from ..runs.task_data import prepare_task
    from .models import resolve_model

    model_dir = resolve_model(spec["model"])
    data_bin = prepare_task("sst2", model_dir, spec["work_dir"], max_train=spec["max_train"], log=lambda line: None)
    return {"model_dir": str(model_dir), "data_bin": str(data_bin)}


def prepared(model, work_dir, max_train):
    """(model directory, data-bin) of ``model`` and SST-2 with ``max_train`` training sentences."""
    from .measure import run_child

    result, _ = run_child("peft_roberta.bench.prepare", {"model": model, "work_dir": str(work_dir),
                                                          "max_train": max_train}, "preparing the model and data")
    return result["model_dir"], result["data_bin"]


if __name__ == "__main__":
    sys.exit(child_main(prepare))
