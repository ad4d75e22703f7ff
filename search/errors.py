"""Errors a user can cause. The CLI prints their message alone and exits non-zero."""


class UserError(Exception):
    """Bad input from the command line or a file: one clear message, no traceback."""
