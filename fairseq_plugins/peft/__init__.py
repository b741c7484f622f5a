"""The PEFT methods behind ``--peft``. A new method is one module here plus one entry in METHODS."""
from .adapter import Adapter
from .base import PeftMethod
from .bitfit import BitFit
from .full import FullFineTuning
from .ia3 import IA3
from .lora import Lora, LoraLinear
from .mam import Mam
from .prefix import PrefixTuning

METHODS = {method.name: method for method in (FullFineTuning, Lora, BitFit, Adapter, IA3, PrefixTuning, Mam)}


def build_method(args) -> PeftMethod:
    return METHODS[args.peft](args)


__all__ = ["METHODS", "PeftMethod", "build_method", "LoraLinear"]
