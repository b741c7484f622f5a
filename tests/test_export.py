"""An exported directory is self-contained: fairseq's own RobertaModel.from_pretrained(OUT_DIR,
checkpoint_file="model.pt"), with no other argument, in a process that never imports the plugin and
offline, encodes and predicts the fine-tuned checkpoint's labels; for a WordPiece, a GPT-2 BPE and a
sentencepiece model. A PEFT-only file is refused on another base model."""
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import REPO, SHARED, run_dir
from test_recipes import run_recipe

pytestmark = pytest.mark.skipif(not (SHARED / "data").is_dir(), reason=f"needs the datasets of {SHARED}/data")
TINY = {"MAX_TRAIN": "64", "MAX_UPDATES": "3", "VALIDATIONS": "1", "SEEDS": "1", "OMP_NUM_THREADS": "1"}


def plain_labels(out_dir, texts, pairs=False):
    """Labels from fairseq's own hub in a fresh process that never imports the plugin, offline."""
    probe = textwrap.dedent(f"""
        import json, sys
        from fairseq.models.roberta import RobertaModel
        hub = RobertaModel.from_pretrained({str(out_dir)!r}, checkpoint_file="model.pt")
        assert "fairseq_plugins" not in sys.modules and "peft_roberta" not in sys.modules
        assert type(hub.model).__name__ == "RobertaModel"
        hub.eval()
        texts = json.loads({json.dumps(texts)!r})
        labels = [hub.predict("sentence_classification_head", hub.encode(*t) if {pairs} else hub.encode(t)).argmax().item()
                  for t in texts]
        print(json.dumps(labels))
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "no_proxy": "*",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}  # any download fails
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd="/")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def plugin_labels(checkpoint, texts, pairs=False):
    from peft_roberta.models import hub

    model = hub.from_pretrained(str(checkpoint))  # the tokenizer the data was prepared with
    model.eval()
    with torch.no_grad():
        return [model.predict("sentence_classification_head", model.encode(*t) if pairs else model.encode(t))
                .argmax().item() for t in texts]


def export(checkpoint, out_dir, *extra):
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "export_checkpoint.py"), str(checkpoint),
                           str(out_dir), *extra], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    exported = torch.load(out_dir / "model.pt", weights_only=False)["cfg"]
    from fairseq_plugins.models.roberta_peft import PLUGIN_OPTIONS

    assert not {o.name for o in PLUGIN_OPTIONS} & set(exported["model"])  # no plugin-only key
    assert exported["task"]["_name"] == "sentence_prediction" and exported["common"]["user_dir"] is None
    return exported


def dev_sentences(count=24):
    lines = (SHARED / "data" / "glue" / "SST-2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:count + 1]
    return [line.split("\t")[0] for line in lines]


@pytest.fixture(scope="module")
def minilm_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("minilm")
    run_recipe("sst2_lora.sh", work, INITS="pretrained", **TINY)
    return work, run_dir(work, "sst2_lora")


def test_wordpiece_export_predicts_the_checkpoints_labels(minilm_run, tmp_path):
    _, folder = minilm_run
    exported = export(folder / "checkpoint_best.pt", tmp_path / "out")
    assert exported["bpe"]["_name"] == "bert" and (tmp_path / "out" / "vocab.txt").is_file()
    texts = dev_sentences()
    assert plain_labels(tmp_path / "out", texts) == plugin_labels(folder / "checkpoint_best.pt", texts)


def test_sentencepiece_export_predicts_the_checkpoints_labels(tmp_path):
    run_recipe("cls_books_pretrained_vs_random.sh", tmp_path, **TINY)
    folder = run_dir(tmp_path, "cls_books_pretrained_vs_random", init="random", seed=1)
    exported = export(folder / "checkpoint_best.pt", tmp_path / "out")
    assert exported["bpe"]["_name"] == "sentencepiece" and (tmp_path / "out" / "sentencepiece.bpe.model").is_file()
    lines = (SHARED / "data" / "cls_books" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]
    texts = [line.split("\t")[0] for line in lines if len(line) < 400][:24]  # within the model's 256 positions
    assert plain_labels(tmp_path / "out", texts) == plugin_labels(folder / "checkpoint_best.pt", texts)


def test_a_peft_file_is_refused_on_another_base_model(minilm_run, tmp_path):
    from fairseq_plugins.checkpoints.safety import CheckpointError, safe_load
    from peft_roberta.models.hub import from_pretrained

    _, folder = minilm_run
    payload = safe_load(folder / "checkpoint_best.peft.pt")
    base = payload["base_checkpoint"]
    assert payload["base_sha256"] and os.path.isfile(base)
    from_pretrained(peft_file=str(folder / "checkpoint_best.peft.pt"), base_checkpoint=base)  # its own base: fine
    other = safe_load(base)
    other["model"]["encoder.sentence_encoder.layers.0.fc1.bias"] += 1e-3
    torch.save(other, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match=r"made for the base model with sha256 .*, not .*other\.pt"):
        from_pretrained(peft_file=str(folder / "checkpoint_best.peft.pt"), base_checkpoint=str(tmp_path / "other.pt"))
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "export_checkpoint.py"), str(tmp_path / "other.pt"),
                           str(tmp_path / "out"), "--peft-file", str(folder / "checkpoint_best.peft.pt")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "made for the base model" in done.stderr and "Traceback" not in done.stderr
