"""What a figure was measured on: the processor, its threads, the GPU, library versions, the date."""
import datetime
import os
import platform
import re
from pathlib import Path


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_multiplies_bf16() -> bool:
    """Whether the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX)."""
    try:
        return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", Path("/proc/cpuinfo").read_text()))
    except OSError:
        return False


def describe(device="cpu") -> str:
    """e.g. 'Intel(R) Xeon(R) Processor, 2 threads, torch 2.13.0+cpu' or the GPU's name."""
    import torch

    if device == "cuda":
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"{cpu_name()}, {torch.get_num_threads()} threads of {os.cpu_count()} cores, torch {torch.__version__}"


def today() -> str:
    return datetime.date.today().isoformat()
