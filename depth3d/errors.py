"""Errors whose message is shown to the user as one line, never as a traceback."""


class Depth3DError(Exception):
    """Base class: a problem with the user's input or set-up, with a clear message."""


class InputError(Depth3DError):
    """An input file is unreadable, corrupt, empty or inconsistent."""
