"""What a recipe was asked to do, read from the recipe file and the environment, and checked.

``bash recipes/<name>.sh`` passes its own parameters (task, method, grid, its SETTINGS ...); the
user's environment adds the options every recipe takes (PROFILE, PRECISION, SEEDS, LR ...). Every
value is checked here, before any data is prepared, and a bad one is one line naming the variable.
A recipe's settings for one grid point are, in order, the profile's defaults, the recipe's
SETTINGS, the user's variables, the point.
"""
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .. import paths
from ..errors import UserError
from ..machine import cpu_multiplies_bf16
from .settings import RECIPE_METHODS, by_name, plugin_method, profile_defaults
from .tasks import TASKS, Task

PROFILES = ("quick", "paper")
PRECISIONS = ("auto", "fp32", "bf16")
INITS = ("pretrained", "random")
TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass
class Request:
    recipe: str
    task: Task
    method: str
    model: Optional[str]  # preset or path; None: the recipe builds the architecture (TRAIN_ARGS)
    inits: list
    seeds: list
    profile: str
    precision: str  # fp32 or bf16 (auto resolved)
    impls: list
    grid: list  # [(label, {setting: value})]; one ("", {}) without a grid
    recipe_settings: dict
    user_settings: dict
    work_dir: Path
    processes_per_node: int = 1
    nodes: int = 1
    node_rank: int = 0
    master_addr: Optional[str] = None
    master_port: Optional[int] = None
    workers: int = 2
    data_dir: Optional[Path] = None
    glue_dir: Optional[Path] = None
    tensorboard: Optional[Path] = None  # TENSORBOARD=DIR: each run logs to DIR/<recipe>/<run> (fairseq and twin)
    extra: dict = field(default_factory=dict)

    @property
    def processes(self):
        return self.processes_per_node * self.nodes

    def settings(self, point: dict) -> dict:
        """The settings of one grid point: the profile's, the recipe's, the user's, the point's."""
        values = profile_defaults(self.profile, "custom" if self.task.custom else self.task.name, self.method)
        for layer in (self.recipe_settings, self.user_settings, point):
            values.update(layer)  # a recipe's "key=" (None) clears what the profile set
        values.update(RECIPE_METHODS[self.method][1])  # what makes the method what it is (DoRA: lora_dora)
        return values


def _words(text):
    return str(text or "").split()


def _absolute(text, caller_dir: Path) -> Path:
    """A path the user gave, relative to where the recipe was started."""
    path = Path(os.path.expanduser(text))
    return path if path.is_absolute() else (caller_dir / path).resolve()


def _pairs(text, where, known):
    """``key=value key=value`` (a recipe's SETTINGS) into typed values."""
    values = {}
    for item in _words(text):
        key, equals, value = item.partition("=")
        if not equals or key not in known:
            raise UserError(f"{where}: '{item}' is not key=value with a key among: {' '.join(sorted(known))}")
        values[key] = known[key].check(value, f"{where} {key}")
    return values


def parse_grid(text, method):
    """GRID="lr=1e-3,5e-4 batch=16,32" into [(label, {setting: value})]; '|' separates values with commas."""
    known = by_name()
    points = [("", {})]
    seen = set()
    for spec in _words(text):
        key, equals, values = spec.partition("=")
        setting = known.get(key)
        if not equals or not values or setting is None or not setting.grid:
            keys = " ".join(sorted(k for k, s in known.items() if s.grid))
            raise UserError(f"GRID: '{spec}' is not key=v1,v2,... with a key among: {keys}")
        if key in seen:
            raise UserError(f"GRID: '{key}' is given twice")
        seen.add(key)
        if setting.method is not None and setting.method != plugin_method(method):
            raise UserError(f"GRID: '{key}' only acts with METHOD={setting.method} (METHOD={method})")
        texts = values.split("|" if "|" in values else ",")
        parsed = [(t, setting.check(t, f"GRID {key}={t}")) for t in texts]
        points = [(f"{label} {key}={t}".strip(), {**point, key: value})
                  for label, point in points for t, value in parsed]
    return points


def _choice(environ, name, allowed, default):
    value = environ.get(name) or default
    if value not in allowed:
        raise UserError(f"{name}={value}: choose {', '.join(allowed)}")
    return value


def _integer(environ, name, default, low=1):
    text = environ.get(name) or str(default)
    if not re.fullmatch(r"\d+", text) or int(text) < low:
        raise UserError(f"{name}={text}: not an integer of at least {low}")
    return int(text)


def resolve_precision(requested, gpu):
    """auto: bf16 when training on a CPU that multiplies bfloat16 natively, else fp32."""
    if requested != "auto":
        return requested
    return "bf16" if not gpu and cpu_multiplies_bf16() else "fp32"


def custom_task(environ, caller_dir):
    """recipes/custom.sh: the user's TASK, TRAIN, DEV, TEST, TEXT_COLUMNS and LABEL_COLUMN."""
    for needed in ("TASK", "TRAIN", "DEV", "TEXT_COLUMNS", "LABEL_COLUMN"):
        if not environ.get(needed):
            raise UserError(f"set {needed} (see the top of recipes/custom.sh)")
    name = environ["TASK"]
    if not TASK_NAME.fullmatch(name):
        raise UserError(f"TASK={name}: not a plain name (letters, digits, '.', '_', '-')")
    columns = [c.strip() for c in environ["TEXT_COLUMNS"].split(",")]
    if not 1 <= len(columns) <= 2 or not all(columns):
        raise UserError(f"TEXT_COLUMNS={environ['TEXT_COLUMNS']}: give one text column, or two "
                        "comma-separated ones for sentence pairs")
    files = {}
    for variable in ("TRAIN", "DEV", "TEST"):
        if environ.get(variable):
            path = _absolute(environ[variable], caller_dir)
            if not path.is_file():
                raise UserError(f"{variable}={environ[variable]}: no such file ({path})")
            files[variable] = str(path)
    return Task(name, folder="", fetch="", train=files["TRAIN"], dev=files["DEV"], test=files.get("TEST"),
                text_columns=tuple(columns), label_column=environ["LABEL_COLUMN"], custom=True)


def read_request(recipe, task, method, model, inits, seeds, grid, settings, caller_dir, environ, gpu=False):
    """The checked request; raises UserError naming the first bad variable."""
    caller_dir = Path(caller_dir)
    task_spec = custom_task(environ, caller_dir) if task == "custom" else TASKS.get(task)
    if task_spec is None:
        raise UserError(f"unknown task '{task}' ({', '.join(TASKS)}, or recipes/custom.sh)")
    method = "full" if method == "none" else method
    if method not in RECIPE_METHODS:
        raise UserError(f"METHOD={method}: choose {', '.join(RECIPE_METHODS)}")
    profile = _choice(environ, "PROFILE", PROFILES, "paper" if gpu else "quick")
    precision = resolve_precision(_choice(environ, "PRECISION", PRECISIONS, "auto"), gpu)
    init_list = _words(inits)
    if not init_list:
        raise UserError("INITS is empty: give pretrained, random or both")
    for init in init_list:
        if init not in INITS:
            raise UserError(f"INITS='{inits}': '{init}' is neither pretrained nor random")
    seed_list = _words(seeds)
    if not seed_list:
        raise UserError('SEEDS is empty: give integers, e.g. SEEDS="1 2 3"')
    for seed in seed_list:
        if not re.fullmatch(r"\d+", seed):
            raise UserError(f"SEEDS='{seeds}': '{seed}' is not a non-negative integer")
    baseline = environ.get("BASELINE", "")
    if baseline not in ("", "none", "hf"):
        raise UserError(f"BASELINE={baseline}: choose hf or leave it unset")
    known = by_name()
    user = {}
    for setting in known.values():
        if environ.get(setting.env, "") != "":
            user[setting.name] = setting.check(environ[setting.env], f"{setting.env}={environ[setting.env]}")
            if setting.method is not None and setting.method != plugin_method(method):
                raise UserError(f"{setting.env}={environ[setting.env]}: only acts with METHOD={setting.method} "
                                f"(METHOD={method})")
    request = Request(
        recipe=recipe, task=task_spec, method=method, model=model or None, inits=init_list,
        seeds=[int(s) for s in seed_list], profile=profile, precision=precision,
        impls=["fairseq", "hf"] if baseline == "hf" else ["fairseq"], grid=parse_grid(grid, method),
        recipe_settings=_pairs(settings, "SETTINGS (in the recipe)", known), user_settings=user,
        work_dir=_absolute(environ.get("WORK_DIR") or str(paths.PROJECT_ROOT), caller_dir),
        workers=_integer(environ, "WORKERS", 2),
    )
    if environ.get("TENSORBOARD"):
        request.tensorboard = _absolute(environ["TENSORBOARD"], caller_dir)
        if request.tensorboard.exists() and not request.tensorboard.is_dir():
            raise UserError(f"TENSORBOARD={environ['TENSORBOARD']}: exists and is not a directory")
    for name in ("DATA_DIR", "GLUE_DIR"):
        if environ.get(name):
            folder = _absolute(environ[name], caller_dir)
            if not folder.is_dir():
                raise UserError(f"{name}={environ[name]}: no such directory")
            setattr(request, name.lower(), folder)
    read_distributed(request, environ)
    return request


def read_distributed(request, environ):
    """NPROCS (or NGPUS) processes per node, NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT."""
    if environ.get("NGPUS") and environ.get("NPROCS") and environ["NGPUS"] != environ["NPROCS"]:
        raise UserError(f"NGPUS={environ['NGPUS']} and NPROCS={environ['NPROCS']}: give one of them "
                        "(processes per node)")
    request.processes_per_node = _integer({"NPROCS": environ.get("NPROCS") or environ.get("NGPUS")}, "NPROCS", 1)
    request.nodes = _integer(environ, "NNODES", 1)
    request.node_rank = _integer(environ, "NODE_RANK", 0, low=0)
    if request.node_rank >= request.nodes:
        raise UserError(f"NODE_RANK={request.node_rank}: give 0 to NNODES-1 ({request.nodes - 1})")
    request.master_addr = environ.get("MASTER_ADDR") or None
    if request.nodes > 1 and not request.master_addr:
        raise UserError(f"NNODES={request.nodes}: set MASTER_ADDR to node 0's address")
    if environ.get("MASTER_PORT"):
        request.master_port = _integer(environ, "MASTER_PORT", 0)
    for label, point in request.grid:
        batch = request.settings(point)["batch"]
        if batch % request.processes:
            where = f" (grid point {label})" if label else ""
            raise UserError(f"BATCH={batch}{where} does not split over {request.processes} processes: "
                            "BATCH is the total batch")
