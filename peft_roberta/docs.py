"""The generated parts of README.md and docs/ that come from declarations, not from runs: the option
tables (``fairseq_plugins``' options, ``runs.settings``) and the HF twin's differences by design, so
they cannot drift from the code (``scripts/write_docs.py`` writes them through ``pages``). Result
tables come from the commands that measure them.
"""
from .analysis.tables import markdown_rows
from .paths import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"


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
