"""Building blocks of the model: the batch-first, PEFT-wrappable RoBERTa encoder."""
