"""Errors whose message is shown to the user as one line, never as a traceback.

Every exception class of the package derives from :class:`Depth3DError`; :func:`user_message`
turns any of them (and the OS errors a file operation raises) into the one line a user reads.
"""
from __future__ import annotations

__all__ = ["Depth3DError", "InputError", "Interrupted", "OptionError", "UsageError", "quote_path", "user_message"]


class Depth3DError(Exception):
    """Base class: a problem with the user's input or set-up, with a clear message."""


class InputError(Depth3DError):
    """An input file is unreadable, corrupt, empty or inconsistent."""


class UsageError(Depth3DError):
    """A bad option or combination of options (exit status 2, nothing written)."""


def quote_path(path: object) -> str:
    """``path`` as it goes into a one-line message: control characters (a newline in a file
    name) and undecodable bytes (a Latin-1 name on a UTF-8 system) escaped as Python would, so
    the line stays one line and can always be printed."""
    text = str(path)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def user_message(exc: BaseException, path: object | None = None) -> str:
    """The one line (no ``error:`` prefix) that tells the user what went wrong.

    ``path``: the input being worked on; it leads the line unless the message names it already.
    OS errors are said in the OS's words with the file they concern; out of memory is said so.
    """
    if isinstance(exc, MemoryError):
        msg = "out of memory"
    elif isinstance(exc, OSError) and not isinstance(exc, Depth3DError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        msg = f"{quote_path(exc.filename)}: {reason}" if exc.filename else reason
    else:
        msg = str(exc) or type(exc).__name__
    if path is not None:
        where = quote_path(path)
        if str(path) in msg:
            msg = msg.replace(str(path), where)
        elif where not in msg:
            msg = f"{where}: {msg}"
    msg = " ".join(msg.split()) if "\n" in msg or "\r" in msg else msg
    return quote_path(msg)


class Interrupted(Depth3DError, KeyboardInterrupt):
    """SIGINT (Ctrl-C, exit status 130) or SIGTERM (143) arrived: stop, leave no temporary file.
    A KeyboardInterrupt (``except KeyboardInterrupt`` sees it) and a Depth3DError; code that
    swallows every Exception may hide it, so a batch also checks that no signal came after
    each input."""

    def __init__(self, status: int):
        super().__init__(f"interrupted ({'SIGINT' if status == 130 else 'SIGTERM'})")
        self.status = status


class OptionError(UsageError, ValueError):
    """An option's value outside its declared range (:mod:`depth3d.ranges`); also a ValueError,
    as Python callers of :class:`~depth3d.geometry.reconstruct.Options` expect."""
