"""The twin's initial weights: the fairseq run's own, at step 0.

:func:`fairseq_start` builds the fairseq model as fairseq-train does before its first update (the
same seeding, task, model, checkpoint loading): the pretrained weights (or the random init), the
new classification head and the method's new parameters (LoRA's A, DoRA's magnitudes, IA3's
vectors) exactly as the fairseq run starts with them. :func:`copy_base` and :func:`copy_method` put
them into the HF model.
"""
import shutil
import tempfile

import torch

from ..errors import UserError
from ..models.conversion import FAMILIES
from .family import HEADS, POSITION_OFFSET, layers_path

EMBEDDINGS = {"bert": "bert.embeddings", "roberta": "roberta.embeddings", "distilbert": "distilbert.embeddings"}
HEAD = "classification_heads.sentence_classification_head"
FS_LAYERS = "encoder.sentence_encoder.layers"


def fairseq_start(argv):
    """(cfg, task, model, trainer) of fairseq-train's command line ``argv`` at step 0."""
    import numpy as np
    from fairseq import checkpoint_utils, tasks, utils
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.trainer import Trainer

    from ..runs.fairseq_options import parse_train_args

    cfg = convert_namespace_to_omegaconf(parse_train_args(argv))
    # fairseq resumes from <save_dir>/checkpoint_last.pt when there is one: the twin's step 0 is read
    # from an empty folder of its own, never from another run's state
    cfg.checkpoint.save_dir = tempfile.mkdtemp(prefix="twin-start-")
    cfg.checkpoint.restore_file = "checkpoint_last.pt"
    utils.import_user_module(cfg.common)
    np.random.seed(cfg.common.seed)  # fairseq_cli.train.main, in its order
    utils.set_torch_seed(cfg.common.seed)
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    criterion = task.build_criterion(cfg.criterion)
    for split in cfg.dataset.valid_subset.split(","):
        task.load_dataset(split, combine=False, epoch=1)
    trainer = Trainer(cfg, task, model, criterion)
    try:
        checkpoint_utils.load_checkpoint(cfg.checkpoint, trainer)
    finally:
        shutil.rmtree(cfg.checkpoint.save_dir, ignore_errors=True)
    return cfg, task, trainer.model, trainer


@torch.no_grad()
def copy_base(fs_model, hf_model, family, ids):
    """The encoder and the head of ``fs_model`` into the plain (not yet peft-wrapped) ``hf_model``."""
    fs = fs_model.state_dict()
    hf = hf_model.state_dict()
    if fs_model.encoder.sentence_encoder.layer_norm is not None:
        raise UserError("the model normalizes before its layers (a final LayerNorm): no HuggingFace twin here")
    put = {}
    emb, fs_emb = EMBEDDINGS[family], "encoder.sentence_encoder."
    words = hf[f"{emb}.word_embeddings.weight"].clone()
    words[torch.tensor(ids)] = fs[fs_emb + "embed_tokens.weight"]
    put[f"{emb}.word_embeddings.weight"] = words
    positions, source = hf[f"{emb}.position_embeddings.weight"].clone(), fs[fs_emb + "embed_positions.weight"]
    rows = min(len(positions), len(source) - POSITION_OFFSET[family])
    positions[:rows] = source[POSITION_OFFSET[family]:POSITION_OFFSET[family] + rows]
    put[f"{emb}.position_embeddings.weight"] = positions
    if f"{emb}.token_type_embeddings.weight" in hf:  # fairseq has none: zero rows add nothing
        put[f"{emb}.token_type_embeddings.weight"] = torch.zeros_like(hf[f"{emb}.token_type_embeddings.weight"])
    for part in ("weight", "bias"):
        put[f"{emb}.LayerNorm.{part}"] = fs[f"{fs_emb}layernorm_embedding.{part}"]
    for i in range(len(hf_model.get_submodule(layers_path(family)))):
        for hf_name, fs_name in FAMILIES[family]["layer_map"].items():
            for part in ("weight", "bias"):
                put[f"{layers_path(family)}.{i}.{hf_name}.{part}"] = fs[f"{FS_LAYERS}.{i}.{fs_name}.{part}"]
    for role in ("dense", "out_proj"):
        for part in ("weight", "bias"):
            put[f"{HEADS[family][role]}.{part}"] = fs[f"{HEAD}.{role}.{part}"]
    missing = [k for k in put if k not in hf]
    if missing:
        raise UserError(f"the HF model has no {missing[0]}: is the family ({family}) the model's?")
    hf_model.load_state_dict({**hf, **put})
    return sorted(set(hf) - set(put))  # HF weights fairseq has no twin of (e.g. BERT's MLM head, if any)


@torch.no_grad()
def copy_method(fs_model, peft_model, family):
    """LoRA's A and B, DoRA's magnitudes and IA3's vectors of ``fs_model`` into peft's modules of ``peft_model``."""
    reverse = {fs: hf for hf, fs in FAMILIES[family]["layer_map"].items()}
    base = peft_model.get_base_model()
    copied = 0
    for name, value in fs_model.state_dict().items():
        if not name.startswith(FS_LAYERS) or not name.rsplit(".", 1)[-1].startswith(("lora_", "ia3_")):
            continue
        index, inner = name[len(FS_LAYERS) + 1:].split(".", 1)
        path, kind = inner.rsplit(".", 1)
        module = base.get_submodule(f"{layers_path(family)}.{index}.{reverse[path]}")
        if kind in ("lora_A", "lora_B"):
            target = getattr(module, kind)["default"].weight
        elif kind == "lora_magnitude":
            target = module.lora_magnitude_vector["default"].weight
        else:
            target = module.ia3_l["default"]
        target.copy_(value.view_as(target))
        copied += 1
    return copied
