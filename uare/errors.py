"""Exceptions that the CLI turns into one clear line and exit code 2."""


class UareError(Exception):
    """Base class for errors a user can fix (bad input, bad arguments, missing files)."""


class ImageReadError(UareError):
    """An input file is not a readable image (corrupt, truncated, empty, unsupported, too large)."""


class OutputExistsError(UareError):
    """The output file already exists and --overwrite was not given."""


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines too) collapsed to one space: one line of a message."""
    return " ".join(str(text).split())
