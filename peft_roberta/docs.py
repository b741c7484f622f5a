"""Writing the generated parts of README.md and docs/: blocks between ``<!-- name:begin -->`` and
``<!-- name:end -->`` markers, replaced whole; everything else in those files is left as it is.

The option tables come from the declarations (``fairseq_plugins``' options, ``runs.settings``), so
they cannot drift from the code; result tables come from the commands that measure them.
"""
import os
import re
from pathlib import Path

from .analysis.tables import markdown_rows
from .errors import UserError
from .paths import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"


def replace_block(text, name, content, where="README.md"):
    """``text`` with the block ``name`` replaced by ``content``."""
    pattern = re.compile(rf"(<!-- {re.escape(name)}:begin -->\n).*?(<!-- {re.escape(name)}:end -->)", re.S)
    if not pattern.search(text):
        raise UserError(f"{where}: no <!-- {name}:begin --> ... <!-- {name}:end --> block")
    return pattern.sub(lambda m: m.group(1) + content.rstrip("\n") + "\n" + m.group(2), text)


def write_page(path, text):
    """Write ``text`` to ``path`` through a temporary name beside it: never a half-written page."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_block(path, name, content):
    """Replace the block ``name`` of ``path`` atomically."""
    path = Path(path)
    write_page(path, replace_block(path.read_text(encoding="utf-8"), name, content, where=str(path)))


def plugin_options_table(short=False):
    """Every plugin option: flag, default, meaning, and (full table) its HF twin and recipe variable."""
    from fairseq_plugins.models.roberta_peft import PLUGIN_OPTIONS
    from fairseq_plugins.peft import METHODS

    owner = {o.name: m for m, c in METHODS.items() for o in c.options}
    rows = []
    for option in PLUGIN_OPTIONS:
        default = "off" if option.parse is None else f"`{option.default}`"
        row = [f"`{option.flag}`", default, option.help + (f" (--peft {owner[option.name]})" if option.name in owner
                                                           else "")]
        if not short:
            twin = f"`{option.hf}`" if option.hf else f"none: {option.no_twin}"
            row += [twin, f"`{option.recipe_variable}`" if option.recipe_variable else "–"]
        rows.append(row)
    header = ["option", "default", "meaning"] + ([] if short else ["HuggingFace twin", "recipe variable"])
    return markdown_rows(header, rows)


def recipe_settings_table():
    """Every recipe setting: variable, GRID key, meaning, the method it acts on."""
    from .runs.settings import all_settings

    rows = [[f"`{s.env}`", f"`{s.name}`" if s.grid else "–", s.help, s.method or "every"] for s in all_settings()]
    return markdown_rows(["variable", "GRID key", "meaning", "methods"], rows)


def twin_differences():
    """The HF twin's differences by design (``peft_roberta.hf.DIFFERENCES``), one bullet each."""
    from .hf import DIFFERENCES

    return "\n".join(f"- {difference}" for difference in DIFFERENCES)
