"""fairseq-train's own parsing of a command line, with the plugin loaded: every option resolved,
defaults filled in, and a bad option reported in one line (a UserError) instead of a usage dump."""
from ..errors import UserError


def parse_train_args(argv):
    """The argparse Namespace fairseq-train would run with (``--user-dir`` must be in ``argv``)."""
    from fairseq import options
    from fairseq_plugins.options import OptionError

    parser = options.get_training_parser()

    def error(message):
        raise UserError(f"fairseq-train options: {message}")

    parser.error = error
    try:
        return options.parse_args_and_arch(parser, input_args=list(argv))
    except OptionError as err:
        raise UserError(str(err)) from None
