"""The error every loader raises for data a user can fix (missing, malformed, inconsistent)."""


class DataError(Exception):
    """Data is missing or unusable; the message says where it looked or what is wrong."""
