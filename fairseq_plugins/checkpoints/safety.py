"""Loading fairseq checkpoints under torch's ``weights_only`` unpickler, with an allowlist.

Since torch 2.6, ``torch.load`` refuses any pickled global it does not know. fairseq checkpoints
hold an ``argparse.Namespace`` (the model's legacy arguments), sometimes numpy scalars, and nothing
else that is not a tensor or a container. Rather than switching the check off, the few types
fairseq needs are added to torch's allowlist; anything else (a pickled ``os.system`` call, say)
is still refused, now with a one-line message that names the file and the global.

Trusted extra types can be allowed with ``FAIRSEQ_PEFT_SAFE_GLOBALS=module.Name,module.Other``.
"""
import argparse
import importlib
import os
import pickle
import re
import warnings

import numpy as np
import torch

EXTRA_GLOBALS_ENV = "FAIRSEQ_PEFT_SAFE_GLOBALS"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot or must not be loaded; the message is one line."""


def _numpy_globals():
    """numpy scalars and dtypes, as pickled by numpy 1.x and 2.x (module paths differ)."""
    found = [np.dtype]
    for module_name in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            found.append(importlib.import_module(module_name).scalar)
        except (ImportError, AttributeError):
            pass
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        found += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith("DType")]
    return found


def _env_globals():
    names = [n.strip() for n in os.environ.get(EXTRA_GLOBALS_ENV, "").split(",") if n.strip()]
    found = []
    for name in names:
        module_name, _, attr = name.rpartition(".")
        try:
            found.append(getattr(importlib.import_module(module_name), attr))
        except (ImportError, AttributeError, ValueError) as err:
            raise CheckpointError(f"{EXTRA_GLOBALS_ENV}: cannot import {name!r} ({err})") from None
    return found


def safe_globals():
    """Every global a fairseq checkpoint may contain besides tensors and plain containers."""
    return [argparse.Namespace] + _numpy_globals() + _env_globals()


def allow_fairseq_checkpoints():
    """Add fairseq's checkpoint types to torch's process-wide ``weights_only`` allowlist."""
    torch.serialization.add_safe_globals(safe_globals())


_GLOBAL_IN_MESSAGE = re.compile(r"GLOBAL ([\w.]+)")


def refusal_message(path, err):
    """One line explaining why torch refused to unpickle ``path``."""
    match = _GLOBAL_IN_MESSAGE.search(str(err))
    culprit = f"the global {match.group(1)!r}" if match else "an object"
    return (
        f"{path}: refused to load: it contains {culprit}, which is not on the allowlist of "
        f"checkpoint types (tensors, containers, argparse.Namespace, numpy scalars). If you trust "
        f"this file and the type is harmless, allow it with {EXTRA_GLOBALS_ENV}=module.Name"
    )


def safe_load(path):
    """``torch.load`` to CPU under the allowlist, with one-line errors for missing, truncated or unsafe files."""
    allow_fairseq_checkpoints()
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on stderr: the one line below says it
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if _GLOBAL_IN_MESSAGE.search(str(err)) or "Unsupported global" in str(err):
            raise CheckpointError(refusal_message(path, err)) from None
        detail = next((line.strip() for line in str(err).splitlines() if line.strip().startswith("Unsupported")),
                      str(err).splitlines()[0])
        with open(path, "rb") as f:
            pickled = f.read(1) == b"\x80"  # a raw pickle starts with its protocol byte; a torch file is a zip
        if pickled:
            raise CheckpointError(f"{path}: refused to load: a pickle that torch's weights-only loader cannot read "
                                  f"({detail}); nothing in it was run") from None
        raise CheckpointError(f"{path}: not a readable checkpoint (not a torch file: {detail})") from None
    except (KeyError, ValueError, IndexError):
        # a text or other non-torch file reaches the legacy unpickler, which fails on whatever byte comes
        raise CheckpointError(f"{path}: not a torch checkpoint (neither a torch zip file nor a pickle)") from None
    except (RuntimeError, EOFError, OSError) as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(f"{path}: truncated or not a torch checkpoint ({first_line})") from None
