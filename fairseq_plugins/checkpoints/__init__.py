"""Checkpoints: allowlisted loading (``safety``), the hooks into fairseq's load and save (``hooks``),
the PEFT-only file (``peft_file``) and the plain-fairseq export (``export``)."""
