"""From a grid point's settings to fairseq-train options: the schedule, the method's options, the
precision. The one place that knows how a recipe setting becomes a fairseq option.
"""
import math

from .settings import by_name, plugin_method

# fixed for every recipe run: the optimizer, the schedule and how the best checkpoint is kept
FIXED_OPTIONS = ["--required-batch-size-multiple", "1", "--optimizer", "adam", "--lr-scheduler", "polynomial_decay",
                 "--clip-norm", "0.0", "--log-interval", "20"]


def schedule(settings, n_train, processes=1):
    """updates, warmup updates, updates per epoch and the validation interval of one point."""
    per_epoch = math.ceil(n_train / settings["batch"])
    epochs = settings["epochs"]
    if settings.get("min_updates"):  # small data: as many more epochs as reach MIN_UPDATES
        epochs = max(epochs, math.ceil(settings["min_updates"] / per_epoch))
    updates = settings.get("max_updates") or per_epoch * epochs
    warmup = settings.get("warmup_updates")
    if warmup is None:
        warmup = round(settings["warmup"] * updates)  # Python's rounding, as the recipes always did
    every = math.ceil(per_epoch / settings["validations"])
    return {"updates": updates, "warmup_updates": warmup, "per_epoch": per_epoch, "validate_every": every}


def method_settings(method):
    """The names of the settings that are the plugin options of recipe METHOD ``method`` or of every method."""
    peft = plugin_method(method)
    return [name for name, s in by_name().items() if s.option and s.method in (None, peft)]


def fairseq_options(settings, method, n_train, precision, processes=1, max_positions=None):
    """(fairseq-train options, the run's config: every setting plus the derived schedule)."""
    plan = schedule(settings, n_train, processes)
    options = ["--batch-size", str(settings["batch"] // processes), "--max-update", str(plan["updates"]),
               "--adam-betas", settings["adam_betas"], "--adam-eps", str(settings["adam_eps"]),
               "--weight-decay", str(settings["weight_decay"]), "--lr", str(settings["lr"]),
               "--warmup-updates", str(plan["warmup_updates"]), "--total-num-update", str(plan["updates"]),
               "--dropout", str(settings["dropout"]), "--attention-dropout", str(settings["dropout"]), *FIXED_OPTIONS]
    if settings["validations"] > 1:
        every = str(plan["validate_every"])
        options += ["--validate-interval-updates", every, "--save-interval-updates", every,
                    "--keep-interval-updates", "1"]
    limit = settings.get("max_positions") or max_positions
    if limit:  # longer inputs are cut (prepare_data says how many); a pretrained model keeps the positions it needs
        options += ["--shorten-method", "truncate", "--max-positions", str(limit)]
    known = by_name()
    for name in method_settings(method):
        if settings.get(name) is not None:
            options += known[name].option.as_argv(settings[name])
    if precision == "bf16":
        options.append("--autocast-bf16")
    config = {}  # every setting the run has (its method's only), plugin options at their defaults if unset
    for name, setting in known.items():
        if setting.option is None or name in method_settings(method):
            value = settings.get(name)
            config[name] = setting.default if value is None else value
    config.update(updates=plan["updates"], warmup_updates=plan["warmup_updates"], precision=precision)
    return options, config
