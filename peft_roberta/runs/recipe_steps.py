"""The two steps of a recipe that are not shell (``scripts/recipe_plan.py`` runs them for ``recipes/common.sh``).

``check``: before any work, every setting checked (``runs.recipe``), the model resolved and every
grid point's fairseq-train options parsed by fairseq itself with the plugin (a layer past the last
is caught here); the data located. Prints shell assignments for the recipe.

``points``: after the data is prepared, one JSON file per grid point with everything a run of it
needs (``runs.experiment``): its settings, its fairseq-train options, the data's and the model's
fingerprints, where results and checkpoints go.
"""
import json
import os
import shlex
from pathlib import Path

from .. import paths
from ..errors import UserError
from . import identity as ids
from .plan import fairseq_options


def resolve_model(request, train_args=None, model_name=None):
    """(model directory or None, fairseq-train architecture options, model name, has weights)."""
    if request.model:
        from fairseq_plugins.checkpoints.safety import CheckpointError

        from .. import model_dir as model_dirs
        from ..models.pretrained import resolve

        try:
            model_dir = resolve(request.model)
        except CheckpointError as err:
            raise UserError(f"MODEL={request.model}: {err}") from None
        return (model_dir, model_dirs.train_args(model_dir), model_name or os.path.basename(request.model.rstrip("/")),
                os.path.isfile(os.path.join(model_dir, "model.pt")))
    if not train_args:
        raise UserError("MODEL is empty and the recipe builds no architecture of its own: set MODEL")
    return None, shlex.split(train_args), model_name or "model", False


def locate_data(request):
    """{"DATA_PATH", "FETCH", "TRAIN_PATH", "DEV_PATH", "TEST_PATH"}: where the task's files are, or
    where to download them (FETCH names the dataset)."""
    task = request.task
    if task.custom:
        return {"DATA_PATH": "", "FETCH": "", "TRAIN_PATH": task.train, "DEV_PATH": task.dev, "TEST_PATH": task.test or ""}
    if request.data_dir:
        candidates, explicit = [request.data_dir, request.data_dir / task.folder], "DATA_DIR"
    elif task.glue and request.glue_dir:
        candidates, explicit = [request.glue_dir / task.folder.split("/", 1)[1]], "GLUE_DIR"
    else:
        candidates, explicit = [root / task.folder for root in paths.data_roots()], None
    found = next((c for c in candidates if (c / task.train).is_file()), None)
    if found is None and explicit:
        raise UserError(f"{explicit}: no {task.train} in {' or '.join(map(str, candidates))}")
    if found is None and not task.fetch:
        raise UserError(f"no {task.name} data in {' or '.join(map(str, candidates))}: put GLUE's {task.folder} "
                        "files there, or set GLUE_DIR to the GLUE root (or DATA_DIR to the folder)")
    fetch = "" if found else task.fetch
    found = found or paths.PROJECT_ROOT / "data" / task.folder
    return {"DATA_PATH": str(found), "FETCH": fetch, "TRAIN_PATH": str(found / task.train),
            "DEV_PATH": str(found / task.dev) if task.dev else "", "TEST_PATH": str(found / task.test) if task.test else ""}


def glue_tasks_found(environ, caller_dir):
    """The GLUE tasks whose training file is in GLUE_DIR or a data root, in GLUE's order."""
    from ..published import GLUE_TASK_ORDER
    from .tasks import TASKS

    roots = [paths.PROJECT_ROOT / "data" / "glue", paths.shared_dir() / "data" / "glue"]
    if environ.get("GLUE_DIR"):
        glue_dir = Path(environ["GLUE_DIR"])
        roots = [glue_dir if glue_dir.is_absolute() else Path(caller_dir) / glue_dir]
    found = []
    for name in GLUE_TASK_ORDER:
        task = TASKS[name]
        if any((root / task.folder.split("/", 1)[1] / task.train).is_file() for root in roots):
            found.append(name)
    return found


def prepare_options(request, max_positions=None):
    """prepare_data.py options of the task beyond files and columns."""
    settings = request.settings({})
    options = request.task.prepare_data_options()
    limit = settings.get("max_positions") or max_positions
    if limit:
        options += ["--max-positions", str(limit)]
    if settings.get("max_train"):
        options += ["--max-train", str(settings["max_train"])]
    if request.task.dev_from_train:
        options += ["--dev-from-train", str(request.task.dev_from_train)]
    return options


def point_specs(request, model_dir, train_args, model_name, n_train=1000, num_classes=2, data_bin="unused"):
    """One run specification per grid point (without init, seed and implementation)."""
    from .experiment import train_argv
    from .fairseq_options import parse_train_args

    limit = _option_value(train_args, "--max-positions")
    distributed = {"processes": request.processes, "nproc_per_node": request.processes_per_node,
                   "nnodes": request.nodes, "node_rank": request.node_rank, "master_addr": request.master_addr,
                   "master_port": request.master_port}
    specs = []
    for label, point in request.grid:
        options, config = fairseq_options(request.settings(point), request.method, n_train, request.precision,
                                          request.processes, max_positions=limit)
        specs.append({
            "recipe": request.recipe, "task": request.task.name, "method": request.method, "model": model_name,
            "model_dir": model_dir, "train_args": list(train_args), "data_bin": data_bin, "num_classes": num_classes,
            "profile": request.profile, "precision": request.precision, "label": label, "config": config,
            "task_options": request.task.fairseq_options(), "fairseq_options": options, "distributed": distributed,
            "results": str(request.work_dir / "results" / request.recipe / "runs.jsonl"),
            "checkpoints": str(request.work_dir / "checkpoints" / request.recipe),
            "tensorboard": str(request.tensorboard / request.recipe) if request.tensorboard else None,
        })
    for spec in specs:  # fairseq's own parser, with the plugin: a bad option is one line, before any work
        parse_train_args(train_argv(spec, "random", 1, "fairseq") + ["--save-dir", "unused"])
    return specs


def _option_value(argv, name):
    value = None
    for i, word in enumerate(argv):
        if word == name and i + 1 < len(argv):
            value = argv[i + 1]
    return int(value) if value else None


def check(request, train_args=None, model_name=None):
    """Everything the recipe's shell steps need, after every check passed."""
    model_dir, arch_args, name, has_weights = resolve_model(request, train_args, model_name)
    if "pretrained" in request.inits and not has_weights:
        raise UserError(f"MODEL={request.model or '(none)'} has no pretrained weights here: use INITS=random, "
                        "or point MODEL at a model directory with model.pt")
    point_specs(request, model_dir, arch_args, name)
    settings = request.settings({})
    task_id = request.task.name + (f"-{settings['max_train']}" if settings.get("max_train") else "")
    values = {"PROFILE": request.profile, "PRECISION": request.precision, "METHOD": request.method,
              "INITS": " ".join(request.inits), "SEEDS": " ".join(map(str, request.seeds)),
              "WORK_DIR": str(request.work_dir), "MODEL_DIR": model_dir or "", "MODEL_NAME": name,
              "TRAIN_ARGS": shlex.join(arch_args), "TASK_ID": task_id, "IMPLS": " ".join(request.impls),
              "TEXT_COLUMNS": ",".join(request.task.text_columns), "LABEL_COLUMN": request.task.label_column,
              "WORKERS": str(request.workers), **locate_data(request)}
    lines = [f"{key}={shlex.quote(str(value))}" for key, value in values.items()]
    limit = _option_value(arch_args, "--max-positions")
    lines.append(f"PREPARE_OPTIONS=({shlex.join(prepare_options(request, limit))})")
    return "\n".join(lines)


def data_facts(data_bin):
    """(training examples, classes, fingerprint digest, split sizes) of a prepared data-bin."""
    data_bin = Path(data_bin)
    try:
        classes = json.loads((data_bin / "labels.json").read_text(encoding="utf-8"))["classes"]
        digest = json.loads((data_bin / "fingerprint.json").read_text(encoding="utf-8"))["sha256"]
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"{data_bin}: not a prepare_data.py output ({err})") from None
    sizes = {}
    for split in ("train", "valid", "test"):
        path = data_bin / "examples" / f"{split}.jsonl"
        if path.is_file():
            with open(path, encoding="utf-8") as f:
                sizes[split] = sum(1 for line in f if line.strip())
    return sizes["train"], classes, digest, sizes


def write_points(request, model_dir, train_args, model_name, data_bin, out_dir):
    """Write one JSON file per grid point into ``out_dir``; returns their paths."""
    n_train, classes, data_digest, sizes = data_facts(data_bin)
    arch_args = shlex.split(train_args)
    outputs = 1 if request.task.regression else len(classes)
    specs = point_specs(request, model_dir or None, arch_args, model_name, n_train, outputs, str(data_bin))
    if model_dir:
        from ..model_dir import fingerprint

        model_fp = fingerprint(model_dir)
    else:
        model_fp = {"train_args": arch_args}
    model_fp = {**model_fp, "digest": ids.digest(model_fp)}
    chose = "the best checkpoint" + (" and the configuration" if len(specs) > 1 else "")
    task = request.task
    splits = {"dev": {"examples": sizes.get("valid"), "chose": chose,
                      "source": "carved from train" if task.dev_from_train else "dev file",
                      "reported_as_result": task.reports_selection_split},
              "test": {"examples": sizes["test"], "chose": None, "name": task.test_name} if "test" in sizes else None}
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for i, spec in enumerate(specs):
        spec.update(data_fingerprint=data_digest, model_fingerprint=model_fp, splits=splits)
        path = os.path.join(out_dir, f"point-{i}.json")
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(spec, f, indent=1)
        os.replace(path + ".tmp", path)
        written.append(path)
    return written
