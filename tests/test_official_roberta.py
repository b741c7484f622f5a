"""The official roberta.base path, end to end, with a random-init model of roberta.base's exact shape.

The official weights cannot be downloaded here, so the test writes a stand-in the way fairseq's
released checkpoint is written (fp16 weights, legacy ``args`` Namespace, the old ``decoder.`` and
``emb_layer_norm`` names, fused ``in_proj_weight``) with the real dictionary, and runs the real
path on it: GPT-2 BPE encoding -> binarizing with the official dict.txt -> restoring the checkpoint
-> a few LoRA updates -> hub ``predict``.
"""
import argparse
import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO, SHARED, run_dir

pytestmark = pytest.mark.skipif(not (SHARED / "models" / "roberta.base").is_dir(),
                                reason=f"needs the official dictionary and GPT-2 BPE files of {SHARED}/models")


def official_style_state(model):
    """A fairseq RoBERTa state dict renamed and packed as the 2019 release stores it."""
    state = {}
    for key, value in model.state_dict().items():
        key = key.replace("encoder.", "decoder.", 1).replace(".layernorm_embedding.", ".emb_layer_norm.")
        state[key] = value.half()
    for key in [k for k in state if k.endswith("self_attn.q_proj.weight")]:
        prefix = key[: -len("q_proj.weight")]
        for kind in ("weight", "bias"):
            parts = [state.pop(f"{prefix}{p}_proj.{kind}") for p in "qkv"]
            state[f"{prefix}in_proj_{kind}"] = torch.cat(parts)
    return state


@pytest.fixture(scope="module")
def fake_roberta_base(tmp_path_factory):
    from fairseq.data import Dictionary
    from fairseq.models.roberta import RobertaModel

    out = tmp_path_factory.mktemp("roberta.base")
    dictionary = Dictionary.load(str(SHARED / "models" / "roberta.base" / "dict.txt"))
    dictionary.add_symbol("<mask>")

    class Task:
        source_dictionary = dictionary

        @staticmethod
        def max_positions():
            return 512

    args = argparse.Namespace(arch="roberta_base", task="masked_lm", max_positions=512, tokens_per_sample=512,
                              criterion="masked_lm", data=".")
    torch.manual_seed(0)
    model = RobertaModel.build_model(args, Task)
    assert sum(p.numel() for p in model.parameters()) > 124_000_000  # the full roberta.base shape
    checkpoint = {"args": args, "model": official_style_state(model), "optimizer_history": [
        {"criterion_name": "MaskedLmLoss", "optimizer_name": "FairseqAdam", "lr_scheduler_state": {"best": 1.5},
         "num_updates": 500000}], "extra_state": {"epoch": 1, "train_iterator": {"epoch": 1}}}
    torch.save(checkpoint, out / "model.pt")
    (out / "dict.txt").write_bytes((SHARED / "models" / "roberta.base" / "dict.txt").read_bytes())
    return out


def test_roberta_base_recipe_and_hub(fake_roberta_base, tmp_path):
    env = {**os.environ, "ROBERTA_BASE_DIR": str(fake_roberta_base), "FAIRSEQ_PEFT_CACHE": str(tmp_path / "cache"),
           "MODEL": "roberta.base", "INITS": "pretrained", "SEEDS": "1", "MAX_TRAIN": "64", "MAX_UPDATES": "3",
           "BATCH": "8", "WORKERS": "1", "WORK_DIR": str(tmp_path), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(["bash", str(REPO / "recipes" / "sst2_lora.sh")], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:]
    model_dir = tmp_path / "cache" / "models" / "roberta.base"
    info = json.loads((model_dir / "model_info.json").read_text())
    assert info["tokenizer"]["type"] == "gpt2" and info["train_args"][:2] == ["--arch", "roberta_peft_base"]
    (row,) = [json.loads(line) for line in (tmp_path / "results" / "sst2_lora" / "runs.jsonl").read_text().splitlines()]
    assert row["model"] == "roberta.base" and row["updates"] == 3
    assert row["trainable_params"] == 12 * 2 * 2 * 768 * 8 + 768 * 768 + 768 + 2 * 768 + 2  # LoRA q,v r=8 + head

    data_bin = next((tmp_path / "data-bin").glob("sst2-64.gpt2"))
    first_ids = (data_bin / "input0" / "dict.txt").read_text().splitlines()[:3]
    assert first_ids == (SHARED / "models" / "roberta.base" / "dict.txt").read_text().splitlines()[:3]

    probe = f"""
import sys
from peft_roberta.models import hub
tuned = hub.from_pretrained({str(run_dir(tmp_path, "sst2_lora") / "checkpoint_best.pt")!r},
                            data={str(data_bin)!r}, tokenizer={str(model_dir)!r})
tuned.eval()
tokens = tuned.encode("Hello world!")
assert tokens.tolist() == [0, 31414, 232, 328, 2], tokens.tolist()  # GPT-2 BPE + the official dictionary
label = tuned.predict("sentence_classification_head", tokens).argmax().item()
print("predicted", tuned.task.label_dictionary.string([label + tuned.task.label_dictionary.nspecial]))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() in ("predicted 0", "predicted 1")


def test_gpt2_bpe_export_predicts_the_checkpoints_labels(fake_roberta_base, tmp_path):
    """The export of a GPT-2 BPE model loads in plain fairseq (hf_byte_bpe reads the exported vocab.json and
    merges.txt, which give exactly fairseq's GPT-2 ids) and predicts the fine-tuned checkpoint's labels."""
    from test_export import export, plain_labels, plugin_labels

    env = {**os.environ, "ROBERTA_BASE_DIR": str(fake_roberta_base), "FAIRSEQ_PEFT_CACHE": str(tmp_path / "cache"),
           "MODEL": "roberta.base", "INITS": "pretrained", "SEEDS": "1", "MAX_TRAIN": "64", "MAX_UPDATES": "2",
           "BATCH": "8", "WORKERS": "1", "WORK_DIR": str(tmp_path), "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(["bash", str(REPO / "recipes" / "sst2_lora.sh")], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:]
    checkpoint = run_dir(tmp_path, "sst2_lora") / "checkpoint_best.pt"
    exported = export(checkpoint, tmp_path / "out")
    assert exported["bpe"]["_name"] == "hf_byte_bpe"
    texts = ["Hello world!", "a gripping, funny film", "dull and far too long", "émigré café, 5:30 -- fine"]
    assert plain_labels(tmp_path / "out", texts) == plugin_labels(checkpoint, texts)
