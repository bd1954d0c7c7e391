"""Errors caused by user input: the CLI prints their message (what is wrong, how to fix it)
and exits with status 2, without a traceback."""


class UserError(Exception):
    """Base class for mistakes in recipes, paths or arguments."""
