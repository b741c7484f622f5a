"""Every plugin option is declared once and reaches everything derived from it: fairseq's parser and
defaults, the HuggingFace twin (or a stated reason why not), the export, and the recipes' settings.
The tests walk the declarations; nothing is listed by hand."""
import re
import subprocess
import sys

import pytest
import torch
from conftest import PLUGIN_DIR, SENTENCE_PREDICTION, TINY_SHAPE, build_model

from fairseq_plugins.models.roberta_peft import MODEL_OPTIONS, PLUGIN_OPTIONS
from fairseq_plugins.options import comma_choices
from fairseq_plugins.peft import METHODS

OWNER = {o.name: None for o in MODEL_OPTIONS} | {o.name: m for m, c in METHODS.items() for o in c.options}


def other_value(option):
    """A valid value of ``option`` other than its default."""
    if option.parse is None:
        return True
    if option.choices:
        return next(c for c in option.choices if c != option.default)
    if option.name == "peft_layers":
        return "0"
    if option.name == "ia3_feedforward":
        return "none"
    if option.name == "ia3_targets":
        return "v_proj,fc2"
    if isinstance(option.parse, type(comma_choices(()))) and option.parse.__name__ == "comma list":
        return "q_proj" if option.default != "q_proj" else "k_proj"
    if isinstance(option.default, bool):
        return not option.default
    if isinstance(option.default, int):
        return option.default + 1
    if isinstance(option.default, float):
        return option.default * 2 if option.default else 0.25
    raise AssertionError(f"no other value known for {option.name}")


def method_of(option):
    return OWNER[option.name] or "lora"


# options that only act together with another one (a value alone is refused)
COMPANIONS = {"prefix_hidden_size": ["--prefix-projection"], "mam_prefix_hidden_size": ["--mam-prefix-projection"],
              "frozen_weights_dtype": ["--autocast-bf16"]}


def test_every_option_is_declared_once_with_a_twin_or_a_reason():
    from peft_roberta.hf.methods import TARGETS

    names = [o.name for o in PLUGIN_OPTIONS]
    assert len(names) == len(set(names))
    for option in PLUGIN_OPTIONS:
        assert (option.hf is None) != (not option.no_twin), option.name
        assert option.hf is None or option.hf in TARGETS, f"{option.name}: the twin has no target {option.hf!r}"
        assert option.help and option.flag == "--" + option.name.replace("_", "-")


@pytest.mark.parametrize("option", PLUGIN_OPTIONS, ids=lambda o: o.name)
def test_every_option_reaches_fairseq_with_its_default_and_a_set_value(corpus, option):
    args = ["--peft", method_of(option)] if option.name != "peft" else []
    _, _, default_cfg = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, *args)
    assert getattr(default_cfg.model, option.name) == option.default
    value = other_value(option)
    _, _, cfg = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, *args,
                            *COMPANIONS.get(option.name, []), *option.as_argv(value))
    assert getattr(cfg.model, option.name) == (option.parse(str(value)) if option.parse else value)


def twin_description(corpus, *options):
    from peft_roberta.hf.train import build_twin

    argv = [str(corpus["finetune_bin"]), "--user-dir", str(PLUGIN_DIR), *SENTENCE_PREDICTION, "--arch", "roberta_peft",
            *TINY_SHAPE, "--num-classes", "2", "--cpu", "--optimizer", "adam", "--lr-scheduler", "polynomial_decay",
            "--total-num-update", "10", "--max-update", "10", "--batch-size", "8", "--save-dir", "/tmp/unused", *options]
    return build_twin(argv, None)


@pytest.mark.parametrize("option", [o for o in PLUGIN_OPTIONS if o.hf], ids=lambda o: o.name)
def test_every_option_with_a_twin_changes_what_its_declaration_names(corpus, option):
    if option.name == "peft" or OWNER[option.name] == "adapter":
        pytest.skip("the method itself: see test_twin_methods")
    method = ["--peft", method_of(option)]
    base = twin_description(corpus, *method)
    changed = twin_description(corpus, *method, *COMPANIONS.get(option.name, []),
                               *option.as_argv(other_value(option)))
    assert option.hf in changed.description, f"{option.name}: the twin does not report {option.hf!r}"
    if option.hf == "initial weights":  # whatever the option did to fairseq's step 0, the twin starts there
        assert changed.start_logit_difference < 1e-4 and base.start_logit_difference < 1e-4
    else:
        assert changed.description[option.hf] != base.description[option.hf], option.name


@pytest.mark.parametrize("method", sorted(METHODS))
def test_twin_methods(corpus, method):
    from peft_roberta.errors import UserError
    from peft_roberta.hf.methods import NO_TWIN

    if method in NO_TWIN:  # adapter, prefix, mam: every option says why, the twin refuses the method
        no_twin = [o for o in METHODS[method].options if o.no_twin]
        assert no_twin == list(METHODS[method].options)
        with pytest.raises(UserError, match=re.escape(f"--peft {method}: {NO_TWIN[method]}")):
            twin_description(corpus, "--peft", method)
        return
    twin = twin_description(corpus, "--peft", method)
    assert twin.description["method"] == method and twin.start_logit_difference < 1e-4


def test_every_plugin_only_option_is_dropped_by_the_export(corpus, tmp_path):
    from fairseq_plugins.checkpoints.export import PLUGIN_KEYS, export_plain
    from fairseq_plugins.checkpoints.safety import safe_load

    model, _, cfg = build_model(corpus["finetune_bin"], "--arch", "roberta_peft", *TINY_SHAPE, "--peft", "lora")
    export_plain(model, cfg, tmp_path / "model.pt")
    exported = safe_load(tmp_path / "model.pt")["cfg"]["model"]
    plugin_only = {o.name for o in PLUGIN_OPTIONS if o.plugin_only}
    assert plugin_only == PLUGIN_KEYS and not plugin_only & set(exported)
    assert exported["_name"] == "roberta" and "encoder_layers" in exported


def test_every_recipe_variable_is_a_recipe_setting_with_the_plugins_check():
    from peft_roberta.errors import UserError
    from peft_roberta.runs.settings import by_name

    settings = {s.env: s for s in by_name().values()}
    for option in PLUGIN_OPTIONS:
        if option.recipe_variable is None:
            continue
        setting = settings[option.recipe_variable]
        assert setting.option is option and setting.method == OWNER[option.name]
        assert setting.default == option.default
        if option.parse is not None and option.parse not in (str, float):
            with pytest.raises(UserError, match=option.recipe_variable):
                setting.check("-1,,nonsense", f"{option.recipe_variable}=-1,,nonsense")
        if option.parse is None:  # a switch: LORA_DORA=1 turns it on, and it reaches fairseq as the bare flag
            assert setting.check("1", option.recipe_variable) is True and setting.check("0", "x") is False
            assert option.as_argv(setting.check("true", "x")) == [option.flag]
            with pytest.raises(UserError, match=option.recipe_variable):
                setting.check("maybe", f"{option.recipe_variable}=maybe")


@pytest.mark.parametrize("argv,message", [
    (["--peft-layers", "5-2"], "argument --peft-layers: '5-2': the range 5-2 runs backwards"),
    (["--peft-layers", "7"], "--peft-layers 7: layer 7 does not exist (the model has 2 layers, 0-1)"),
    (["--lora-targets", ","], "argument --lora-targets: ',': empty list"),
    (["--lora-targets", "q_proj,q_proj"], "'q_proj,q_proj': a name is listed twice"),
    (["--frozen-weights-dtype", "bf16"], "--frozen-weights-dtype bf16 needs --autocast-bf16"),
    (["--frozen-weights-dtype", "bf16", "--autocast-bf16", "--lora-dora"], "does not combine with --lora-dora"),
])
def test_malformed_options_are_one_line_in_fairseq_train(corpus, tmp_path, argv, message):
    cmd = [sys.executable, "-m", "fairseq_cli.train", str(corpus["finetune_bin"]), "--user-dir", str(PLUGIN_DIR),
           *SENTENCE_PREDICTION, "--arch", "roberta_peft", *TINY_SHAPE, "--num-classes", "2", "--cpu",
           "--peft", "lora", "--save-dir", str(tmp_path), "--max-update", "1", "--batch-size", "8", *argv]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode != 0 and message in proc.stderr
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir())


@pytest.mark.parametrize("argv,message", [
    (["--peft-layers", "7"], "layer 7 does not exist"),
    (["--peft-layers", "5-2"], "runs backwards"),
])
def test_malformed_options_are_refused_by_the_twin_too(corpus, argv, message):
    from peft_roberta.errors import UserError

    with pytest.raises(UserError, match=message):
        twin_description(corpus, "--peft", "lora", *argv)


def test_the_twin_starts_from_the_fairseq_models_weights(corpus):
    twin = twin_description(corpus, "--peft", "lora", "--lora-r", "4")
    assert twin.start_logit_difference < 1e-5
    lora_b = [p for n, p in twin.model.named_parameters() if "lora_B" in n]
    assert lora_b and all(torch.count_nonzero(p) == 0 for p in lora_b)  # B starts at zero, as fairseq's
