"""A run is identified by everything that shapes its result: a changed setting is a new run (new row,
new checkpoint folder), an identical rerun is skipped, and the row records the resolved settings."""
import json

import pytest
from conftest import PLUGIN_DIR, SENTENCE_PREDICTION, SHARED, TINY_SHAPE
from test_recipes import run_recipe

from peft_roberta.runs import identity as ids

needs_data = pytest.mark.skipif(not (SHARED / "data").is_dir(), reason=f"needs the datasets of {SHARED}/data")
FAST = {"MODEL": "bert-tiny", "INITS": "random", "MAX_TRAIN": "64", "MAX_UPDATES": "2", "VALIDATIONS": "1",
        "OMP_NUM_THREADS": "1"}


def rows(work_dir, recipe):
    path = work_dir / "results" / recipe / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def resolved(corpus, *extra):
    from peft_roberta.runs.fairseq_options import parse_train_args

    argv = [str(corpus["finetune_bin"]), "--user-dir", str(PLUGIN_DIR), *SENTENCE_PREDICTION, "--arch", "roberta_peft",
            *TINY_SHAPE, "--num-classes", "2", "--save-dir", "/tmp/a", "--lr", "1e-3", "--optimizer", "adam",
            "--peft", "lora", *extra]
    return ids.shaping_options(parse_train_args(argv))


def test_every_shaping_option_changes_the_id_and_nothing_else_does(corpus):
    base = ids.identity("fairseq", "random", resolved(corpus), {"sha256": "data"}, {"digest": "model"})
    same = ids.identity("fairseq", "random", resolved(corpus, "--log-interval", "7", "--save-dir", "/tmp/b",
                                                      "--num-workers", "3", "--keep-interval-updates", "2"),
                        {"sha256": "data"}, {"digest": "model"})
    assert ids.run_id(base) == ids.run_id(same)
    for extra in (["--adam-eps", "1e-9"], ["--validate-interval-updates", "3"], ["--seed", "2"], ["--lora-r", "4"],
                  ["--dropout", "0.2"], ["--clip-norm", "1.0"], ["--autocast-bf16"]):
        other = ids.identity("fairseq", "random", resolved(corpus, *extra), {"sha256": "data"}, {"digest": "model"})
        assert ids.run_id(other) != ids.run_id(base), extra
    for field, value in (("impl", "hf"), ("init", "pretrained"), ("data", {"sha256": "other"}),
                         ("model", {"digest": "other"})):
        assert ids.run_id({**base, field: value}) != ids.run_id(base), field
    seed_two = ids.identity("fairseq", "random", resolved(corpus, "--seed", "2"), {"sha256": "data"}, {"digest": "model"})
    assert ids.group_id(seed_two) == ids.group_id(base)  # seeds of one group


@needs_data
def test_changed_settings_are_new_runs_and_identical_reruns_are_skipped(tmp_path):
    run_recipe("sst2_lora.sh", tmp_path, **FAST)
    assert len(rows(tmp_path, "sst2_lora")) == 1
    again = run_recipe("sst2_lora.sh", tmp_path, **FAST)
    assert "already in" in again.stdout and len(rows(tmp_path, "sst2_lora")) == 1
    run_recipe("sst2_lora.sh", tmp_path, **{**FAST, "VALIDATIONS": "2"})
    run_recipe("sst2_lora.sh", tmp_path, **FAST, ADAM_EPS="1e-8")
    found = rows(tmp_path, "sst2_lora")
    assert len(found) == 3 and len({r["run_id"] for r in found}) == 3
    assert len({r["save_dir"] for r in found}) == 3
    for row in found:  # the row records the resolved settings, and fairseq's resolved options
        assert row["identity"]["options"]["adam_eps"] == row["config"]["adam_eps"]
        assert {"lr", "batch", "updates", "warmup_updates", "validations", "adam_betas", "precision"} <= set(row["config"])
    assert {r["identity"]["options"]["validate_interval_updates"] for r in found} != {found[0]["identity"]["options"]
                                                                                        ["validate_interval_updates"]}


@needs_data
def test_the_held_out_split_is_part_of_the_identity(tmp_path):
    env = {**FAST, "METHOD": "bitfit", "GRID": "", "SEEDS": "1"}
    run_recipe("sst2_bitfit_grid.sh", tmp_path, HELD_OUT="100", **env)
    run_recipe("sst2_bitfit_grid.sh", tmp_path, HELD_OUT="120", **env)
    found = rows(tmp_path, "sst2_bitfit_grid")
    assert len(found) == 2 and found[0]["identity"]["data"] != found[1]["identity"]["data"]
    assert found[0]["test_accuracy"] is not None
