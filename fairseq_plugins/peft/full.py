"""Full fine-tuning (``--peft none``): every encoder parameter is trained, through the same code path."""
from .base import PeftMethod


class FullFineTuning(PeftMethod):
    name = "none"

    def trainable_groups(self, model):
        return {"encoder (all)": [n for n, _ in model.encoder.named_parameters(prefix="encoder")
                                  if not n.startswith("encoder.lm_head.")]}
