"""A fine-tuned checkpoint as a self-contained plain fairseq RoBERTa directory.

``RobertaModel.from_pretrained(OUT_DIR, checkpoint_file="model.pt")`` then loads it with no other
argument, without this plugin and offline: ``model.pt`` (LoRA or IA3 merged, no plugin option, the
task fairseq's own ``sentence_prediction``), the dictionaries, and the tokenizer the data was
prepared with (the data-bin's ``tokenizer/``), named so that fairseq's hub finds it:
  - sentencepiece: ``sentencepiece.bpe.model`` (fairseq's hub fills in its path itself);
  - GPT-2 BPE: ``vocab.json`` and ``merges.txt`` read by fairseq's ``hf_byte_bpe``, which gives
    exactly fairseq's GPT-2 ids (the hub fills in both paths itself);
  - WordPiece: ``vocab.txt``; fairseq's ``bert`` BPE takes no path relative to the model, so its
    absolute path is recorded: after moving the folder, export again.
"""
import shutil
from pathlib import Path

from ..data.binarize import TOKENIZER_DIR, TOKENIZER_SPEC
from ..data.publish import built_beside
from ..errors import UserError
from ..model_dir import tokenizer_spec


def tokenizer_of(data_dir, tokenizer_dir=None):
    """(spec, folder holding its files) of the data-bin's tokenizer, or a model directory's; (None, None)
    for data binarized elsewhere, which records none."""
    if tokenizer_dir:
        return tokenizer_spec(tokenizer_dir), Path(tokenizer_dir)
    if not (Path(data_dir) / TOKENIZER_SPEC).is_file():
        return None, None
    return tokenizer_spec(Path(data_dir) / TOKENIZER_DIR), Path(data_dir) / TOKENIZER_DIR


def place_tokenizer(spec, source, out_dir):
    """Copy the tokenizer's files into ``out_dir``; returns the fairseq ``bpe`` configuration."""
    kind = spec["type"]
    if kind == "sentencepiece":
        shutil.copyfile(source / spec["model"], out_dir / "sentencepiece.bpe.model")
        return {"_name": "sentencepiece", "sentencepiece_model": "sentencepiece.bpe.model"}
    if kind == "gpt2":
        shutil.copyfile(source / spec["encoder_json"], out_dir / "vocab.json")
        shutil.copyfile(source / spec["vocab_bpe"], out_dir / "merges.txt")
        return {"_name": "hf_byte_bpe", "bpe_vocab": "vocab.json", "bpe_merges": "merges.txt",
                "bpe_add_prefix_space": False}
    shutil.copyfile(source / spec["vocab"], out_dir / "vocab.txt")
    return {"_name": "bert", "bpe_vocab_file": str((out_dir / "vocab.txt").resolve()),
            "bpe_cased": not spec.get("lowercase", True)}


def load_fine_tuned(checkpoint, peft_file=None, data=None):
    """The hub interface of a checkpoint (or base + PEFT-only file), refusing files that are not one."""
    from fairseq_plugins.checkpoints.peft_file import PEFT_FILE_FORMAT
    from fairseq_plugins.checkpoints.safety import CheckpointError, safe_load

    from .hub import from_pretrained

    state = safe_load(checkpoint)
    if isinstance(state, dict) and state.get("format") == PEFT_FILE_FORMAT:
        raise CheckpointError(f"{checkpoint}: a PEFT-only file: give its base checkpoint and this file as "
                              "--peft-file")
    if not isinstance(state, dict) or not {"cfg", "model"} <= set(state) or state["cfg"] is None:
        raise CheckpointError(f"{checkpoint}: not a fairseq checkpoint (no 'cfg' and 'model' entries)")
    if peft_file:
        return from_pretrained(peft_file=peft_file, base_checkpoint=checkpoint, data=data)
    return from_pretrained(checkpoint=checkpoint, data=data, state=state)


def export_directory(checkpoint, out_dir, peft_file=None, data=None, tokenizer_dir=None):
    """Write the self-contained directory ``out_dir`` (built beside it, then renamed into place)."""
    from fairseq_plugins.checkpoints.export import export_plain

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"{out_dir}: exists and is not a directory (OUT_DIR)")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "model.pt").is_file():
        raise UserError(f"{out_dir}: a non-empty directory that is not an export; choose another OUT_DIR")
    hub = load_fine_tuned(checkpoint, peft_file, data)
    data_dir = Path(hub.cfg.task.data)
    spec, source = tokenizer_of(data_dir, tokenizer_dir)
    with built_beside(out_dir) as staging:
        for sub in ("input0", "input1", "label"):
            if (data_dir / sub / "dict.txt").is_file():
                (staging / sub).mkdir()
                shutil.copyfile(data_dir / sub / "dict.txt", staging / sub / "dict.txt")
        bpe = place_tokenizer(spec, source, staging) if spec else None
        if bpe and bpe["_name"] == "bert":  # the absolute path must be the final one
            bpe["bpe_vocab_file"] = str((out_dir / "vocab.txt").resolve())
        export_plain(hub.model, hub.cfg, str(staging / "model.pt"), bpe=bpe)
    return hub.model.peft.name, spec is not None
