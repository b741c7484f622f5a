"""The lockstep check: a fairseq run and its HuggingFace twin trained side by side on the same batches.

fairseq's own Trainer takes each update (its train_step, its Adam, its learning-rate schedule); the
twin takes the same update on the same examples with the optimizer and schedule it trains with in
recipes. With dropout off and fp32, everything the twin is meant to share with the run is then
tested at once: the initial weights, the tokens, the loss, the trained parameters, the optimizer's
arithmetic and the learning rate. The losses of every update and the trained parameters at the end
are compared; only rounding may separate them.
"""
import math

import torch

from .data import collate
from .methods import apply_method
from .train import build_twin, optimizer_and_schedule
from .weights import copy_base, copy_method, fairseq_start


def record_losses(trainer):
    """The mean loss (nats per sentence) of each fairseq update, taken from its criterion."""
    losses = []
    criterion = trainer.criterion
    forward = criterion.forward

    def recording(model, sample, reduce=True):
        loss, sample_size, logging_output = forward(model, sample, reduce=reduce)
        if model.training:
            losses.append(loss.item() / sample_size)
        return loss, sample_size, logging_output

    criterion.forward = recording
    return losses


@torch.no_grad()
def as_twin_parameters(fs_model, twin):
    """The trained fairseq model's parameters under the twin's names (a fresh twin structure filled from it)."""
    from transformers import AutoModelForSequenceClassification

    fresh = AutoModelForSequenceClassification.from_config(twin.model.config, attn_implementation="sdpa")
    ids = twin.ids
    copy_base(fs_model, fresh, twin.family, ids)
    fresh, _ = apply_method(fresh, twin.family, twin.args)
    if twin.args.peft in ("lora", "ia3"):
        copy_method(fs_model, fresh, twin.family)
    return dict(fresh.named_parameters())


def lockstep(argv, model_dir, updates=100):
    """Train both for ``updates`` updates; returns the per-update losses and the final parameter gap.

    ``argv`` is a fairseq-train command line (dropout off for the check to be exact).
    """
    _, task, fs_model, trainer = fairseq_start(argv)
    twin = build_twin(argv, model_dir)
    fs_losses = record_losses(trainer)
    optimizer, schedule = optimizer_and_schedule(twin.model, twin.args)
    hf_losses, learning_rates = [], []
    pad = collate(twin.pad_id)
    epoch = 1
    while len(hf_losses) < updates:  # fairseq's own batches, epoch after epoch, as fairseq-train runs them
        trainer.begin_epoch(epoch)
        for sample in trainer.get_train_iterator(epoch=epoch).next_epoch_itr(shuffle=True):
            if len(hf_losses) == updates:
                break
            learning_rates.append((trainer.get_lr(), optimizer.param_groups[0]["lr"]))
            trainer.train_step([sample])
            twin.model.train()
            batch = pad([twin.datasets["train"][int(i)] for i in sample["id"]])
            loss = twin.model(**batch).loss
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            hf_losses.append(loss.item())
        epoch += 1
    trained = {n: p for n, p in twin.model.named_parameters() if p.requires_grad}
    reference = as_twin_parameters(trainer.model, twin)
    gaps = {n: float((p.detach() - reference[n].detach()).abs().max()) for n, p in trained.items()}
    relative = [abs(f - h) / max(abs(f), 1e-12) for f, h in zip(fs_losses, hf_losses)]
    return {
        "method": twin.args.peft, "updates": len(hf_losses), "fairseq_losses": fs_losses, "hf_losses": hf_losses,
        "max_relative_loss_gap": max(relative), "max_parameter_gap": max(gaps.values()),
        "worst_parameter": max(gaps, key=gaps.get), "trained_tensors": len(trained),
        "start_logit_difference": twin.start_logit_difference, "learning_rates": learning_rates,
        "first_loss": fs_losses[0], "last_loss": fs_losses[-1], "lr_gap": max(abs(a - b) for a, b in learning_rates),
        "loss_moved": not math.isclose(fs_losses[0], fs_losses[-1]),
    }
