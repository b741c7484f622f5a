#!/usr/bin/env python
"""Write the generated parts of README.md and docs/ from the code's own declarations.

    python scripts/write_docs.py          # README.md's option table, docs/options.md, docs/hf_twin.md's differences

Only the blocks between <!-- name:begin --> and <!-- name:end --> markers are replaced. The result
tables are written by the commands that measure them (see docs/README.md).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # the project, if not installed

from peft_roberta.cli import fail, parser_for  # noqa: E402

PROG = "write_docs.py"


def main(argv=None):
    parser_for(__doc__, prog=PROG).parse_args(argv)
    from peft_roberta import docs
    from peft_roberta.pages import write_block
    from peft_roberta.errors import UserError
    from peft_roberta.paths import PROJECT_ROOT

    try:
        write_block(docs.README, "plugin-options", docs.plugin_options_table(short=True))
        options = PROJECT_ROOT / "docs" / "options.md"
        write_block(options, "plugin-options", docs.plugin_options_table())
        write_block(options, "recipe-settings", docs.recipe_settings_table())
        write_block(PROJECT_ROOT / "docs" / "hf_twin.md", "differences", docs.twin_differences())
    except (UserError, OSError) as err:
        return fail(PROG, err)
    print("wrote the option tables of README.md and docs/options.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
