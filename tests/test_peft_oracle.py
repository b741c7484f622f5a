"""peft as the numerical oracle of the plugin: the same weights give the same logits.

The converted MiniLM is built twice: as the fairseq plugin model (``roberta_peft`` restored from
the converted checkpoint, with a 2-class head whose dense layer is BERT's pooler) and as HF's
BertForSequenceClassification loaded by transformers from the original HuggingFace files and
wrapped by peft through the twin's own mapping of the fairseq options (``peft_roberta.hf.methods``).
Both get the same random non-zero LoRA matrices / IA3 vectors and the same classifier, and must give
the same logits on a padded batch of real sentences (HF tokenizer ids on one side, fairseq ids on
the other).
"""
import json
import os
import shutil

import pytest
import torch
from conftest import SHARED, build_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

from fairseq_plugins.checkpoints.safety import safe_load  # noqa: E402
from fairseq_plugins.peft.base import LINEAR_TARGETS  # noqa: E402
from peft_roberta.hf.family import layer_module_names  # noqa: E402
from peft_roberta.hf.methods import apply_method  # noqa: E402
from peft_roberta.models.conversion import bert_vocabulary  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # small models: one thread is faster when cores are shared

TOLERANCE = 1e-4
ALL_TARGETS = "q_proj,k_proj,v_proj,out_proj,fc1,fc2"
FALLBACK_SENTENCES = [
    "it 's a charming and often affecting journey .",
    "unflinchingly bleak and desperate",
    "allows us to hope that nolan is poised to embark a major career as a commercial yet inventive filmmaker .",
    "the acting , costumes , music , cinematography and sound are all astounding given the production 's "
    "austere locales .",
    "it 's slow -- very , very slow .",
    "a sometimes tedious film .",
]




def real_sentences(n=8):
    dev = SHARED / "data" / "glue" / "SST-2" / "dev.tsv"
    if not dev.is_file():
        return FALLBACK_SENTENCES
    return [line.split("\t")[0] for line in dev.read_text(encoding="utf-8").splitlines()[1: n + 1]]


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    """The converted model directory, its checkpoint state, a data dir of its dictionary, its HF source."""
    from peft_roberta.models.pretrained import resolve

    model_dir = resolve("minilm")
    info = json.loads(open(os.path.join(model_dir, "model_info.json"), encoding="utf-8").read())
    data = tmp_path_factory.mktemp("minilm_dicts")
    (data / "input0").mkdir()
    (data / "label").mkdir()
    shutil.copyfile(os.path.join(model_dir, "dict.txt"), data / "input0" / "dict.txt")
    (data / "label" / "dict.txt").write_text("0 1\n1 1\n")
    return {"dir": model_dir, "info": info, "data": data, "hf_dir": info["source"]["hf_dir"],
            "state": safe_load(os.path.join(model_dir, "model.pt"))["model"]}


@pytest.fixture(scope="module")
def batch(minilm):
    """The same padded batch for both: HF token ids, attention mask and their fairseq twins."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm["hf_dir"])
    encoded = tokenizer(real_sentences(), return_tensors="pt", padding=True)
    assert not encoded["attention_mask"].all(), "the batch must contain padding"
    order, _ = bert_vocabulary(os.path.join(minilm["dir"], minilm["info"]["tokenizer"]["vocab"]))
    to_fairseq = torch.empty(len(order), dtype=torch.long)
    to_fairseq[torch.tensor(order)] = torch.arange(len(order))
    tokens = to_fairseq[encoded["input_ids"]]
    assert (tokens[:, 0] == 0).all() and (tokens[~encoded["attention_mask"].bool()] == 1).all()  # <s>, <pad>
    return {"hf": dict(encoded), "fairseq": tokens}


def fairseq_model(minilm, *peft_args):
    """The plugin model of the converted MiniLM (pretrained weights, a fresh 2-class head), eval mode."""
    model, _, cfg = build_model(minilm["data"], *minilm["info"]["train_args"], *peft_args, seed=3)
    model.load_state_dict(dict(minilm["state"]), strict=True, model_cfg=cfg.model)
    return model.eval()


def fairseq_logits(model, batch):
    with torch.no_grad():
        return model(batch["fairseq"], classification_head_name="sentence_classification_head")[0]


def hf_logits(model, batch):
    with torch.no_grad():
        return model(**batch["hf"]).logits


def peft_model(minilm, fairseq, method, *options):
    """HF BERT (transformers' own loading of the HF files) + peft through the twin's mapping of the fairseq
    model's options; the classifier copied from ``fairseq`` (the pooler is BERT's on both sides)."""
    model = transformers.AutoModelForSequenceClassification.from_pretrained(minilm["hf_dir"], num_labels=2)
    head = fairseq.classification_heads["sentence_classification_head"]
    assert torch.equal(model.bert.pooler.dense.weight, head.dense.weight), "fairseq's head dense is BERT's pooler"
    with torch.no_grad():
        model.classifier.weight.copy_(head.out_proj.weight)
        model.classifier.bias.copy_(head.out_proj.bias)
    model, _ = apply_method(model, "bert", fairseq.args)
    return model.eval()


def hf_layer_module(model, layer, target):
    names = layer_module_names("bert")
    return model.get_base_model().get_submodule(f"bert.encoder.layer.{layer}.{names[target]}")


def wrapped_hf_modules(model, attribute):
    prefix = "base_model.model."
    return {name[len(prefix):] for name, module in model.named_modules()
            if isinstance(getattr(module, attribute, None), (torch.nn.ModuleDict, torch.nn.ParameterDict))}


def expected_hf_modules(targets, layers=range(6)):
    names = layer_module_names("bert")
    return {f"bert.encoder.layer.{i}.{names[t]}" for i in layers for t in targets}


def fairseq_layer_module(model, layer, target):
    return model.encoder.sentence_encoder.layers[layer].get_submodule(LINEAR_TARGETS[target])


def share_random_lora(fairseq, model, targets, generator, layers=range(6)):
    """The same random non-zero A and B in both models."""
    for layer in layers:
        for target in targets:
            ours, theirs = fairseq_layer_module(fairseq, layer, target), hf_layer_module(model, layer, target)
            a = torch.randn(ours.lora_A.shape, generator=generator) * 0.05
            b = torch.randn(ours.lora_B.shape, generator=generator) * 0.05
            with torch.no_grad():
                ours.lora_A.copy_(a)
                ours.lora_B.copy_(b)
                theirs.lora_A["default"].weight.copy_(a)
                theirs.lora_B["default"].weight.copy_(b)
            assert theirs.scaling["default"] == ours.scaling


def share_random_ia3(fairseq, model, targets, generator):
    for layer in range(6):
        for target in targets:
            ours, theirs = fairseq_layer_module(fairseq, layer, target), hf_layer_module(model, layer, target)
            scale = 1 + 0.5 * torch.randn(ours.ia3_scale.shape, generator=generator)
            vector = theirs.ia3_l["default"]
            assert vector.numel() == scale.numel() and theirs.is_feedforward == ours.scales_input
            with torch.no_grad():
                ours.ia3_scale.copy_(scale)
                vector.copy_(scale.reshape(vector.shape))


@pytest.mark.parametrize("targets", [ALL_TARGETS, "q_proj,fc2", "k_proj,out_proj,fc1"])
def test_lora_logits_match_peft(minilm, batch, targets):
    names = targets.split(",")
    options = ["--lora-targets", targets, "--lora-r", "4", "--lora-alpha", "8"]
    fairseq = fairseq_model(minilm, "--peft", "lora", *options)
    model = peft_model(minilm, fairseq, "lora", *options)
    assert wrapped_hf_modules(model, "lora_A") == expected_hf_modules(names)  # fc2 never hits attention.output
    with model.disable_adapter():
        base = hf_logits(model, batch)
    assert (fairseq_logits(fairseq, batch) - base).abs().max() <= TOLERANCE  # fresh LoRA: the base model

    share_random_lora(fairseq, model, names, torch.Generator().manual_seed(11))
    ours, theirs = fairseq_logits(fairseq, batch), hf_logits(model, batch)
    assert (theirs - base).abs().max() > 1e-2, "the shared LoRA weights must change the logits"
    difference = (ours - theirs).abs().max().item()
    print(f"LoRA {targets}: max |fairseq - peft| = {difference:.2e}")
    assert difference <= TOLERANCE


def test_lora_on_some_layers_matches_peft(minilm, batch):
    options = ["--lora-targets", "v_proj,fc2", "--lora-r", "2", "--lora-alpha", "16", "--peft-layers", "1,4-5"]
    fairseq = fairseq_model(minilm, "--peft", "lora", *options)
    model = peft_model(minilm, fairseq, "lora", *options)
    assert wrapped_hf_modules(model, "lora_A") == expected_hf_modules(["v_proj", "fc2"], [1, 4, 5])
    share_random_lora(fairseq, model, ["v_proj", "fc2"], torch.Generator().manual_seed(12), layers=[1, 4, 5])
    assert (fairseq_logits(fairseq, batch) - hf_logits(model, batch)).abs().max() <= TOLERANCE


def test_ia3_logits_match_peft(minilm, batch):
    options = ["--ia3-targets", "k_proj,v_proj,fc2", "--ia3-feedforward", "fc2"]
    fairseq = fairseq_model(minilm, "--peft", "ia3", *options)
    model = peft_model(minilm, fairseq, "ia3", *options)
    assert wrapped_hf_modules(model, "ia3_l") == expected_hf_modules(["k_proj", "v_proj", "fc2"])
    feedforward = {name for name, m in model.named_modules() if getattr(m, "is_feedforward", False)}
    assert {n.split("base_model.model.")[-1] for n in feedforward} == expected_hf_modules(["fc2"])

    share_random_ia3(fairseq, model, ["k_proj", "v_proj", "fc2"], torch.Generator().manual_seed(13))
    ours, theirs = fairseq_logits(fairseq, batch), hf_logits(model, batch)
    with model.disable_adapter():
        assert (theirs - hf_logits(model, batch)).abs().max() > 1e-2, "the shared vectors must change the logits"
    difference = (ours - theirs).abs().max().item()
    print(f"IA3 k_proj,v_proj,fc2: max |fairseq - peft| = {difference:.2e}")
    assert difference <= TOLERANCE


@pytest.mark.parametrize("method", ["lora", "ia3"])
def test_merged_models_match_peft_merge_and_unload(minilm, batch, method):
    if method == "lora":
        options, targets = ["--lora-targets", ALL_TARGETS, "--lora-r", "4", "--lora-alpha", "8"], ALL_TARGETS.split(",")
    else:
        options, targets = ["--ia3-targets", "k_proj,v_proj,fc2"], ["k_proj", "v_proj", "fc2"]
    fairseq = fairseq_model(minilm, "--peft", method, *options)
    model = peft_model(minilm, fairseq, method, *options)
    share = share_random_lora if method == "lora" else share_random_ia3
    share(fairseq, model, targets, torch.Generator().manual_seed(14))
    unmerged = fairseq_logits(fairseq, batch)

    fairseq.peft.merge(fairseq)
    merged = model.merge_and_unload()
    assert not any("lora_" in n or "ia3_" in n for n, _ in merged.named_parameters())
    ours, theirs = fairseq_logits(fairseq, batch), hf_logits(merged.eval(), batch)
    difference = (ours - theirs).abs().max().item()
    print(f"{method} merged: max |fairseq merged - peft merge_and_unload| = {difference:.2e}")
    assert difference <= TOLERANCE
    assert (ours - unmerged).abs().max() <= TOLERANCE
