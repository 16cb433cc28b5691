"""Many inputs, one at a time: the batch every command runs (``depth3d convert``/``depth``, the
Blender batch).

:func:`run_batch` runs a ``work(path)`` function on each input — usually the pipeline's stages
(:mod:`depth3d.pipeline`) — and keeps the contract of ``docs/contract.md``: every failing input
is one line ``error: <file>: <reason>`` on stderr (:func:`~depth3d.errors.user_message`), the
others are still done, and the exit status says how it went (:data:`EXIT_OK`, :data:`EXIT_FAILED`;
:data:`EXIT_USAGE` is a usage error's).  :func:`exit_status` runs a whole command (set-up,
then the batch) inside :func:`signals_interrupt`: SIGINT and SIGTERM stop it with exit status
130/143, a set-up error that hits every input is one line and status 1.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from .errors import Depth3DError, Interrupted, UsageError, user_message

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "exit_status", "run_batch", "signals_interrupt"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_signalled: list[int] = []  # the status of a signal that arrived, even if a library swallowed it


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` in the main thread while the body runs
    (atomic writes then remove their temporary files on the way out).  Elsewhere than in the
    main thread, the body runs with the signal handlers as they are."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        status = 128 + signum
        _signalled.append(status)
        raise Interrupted(status)

    _signalled.clear()
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _progress(inputs: Sequence[Path]) -> tuple[Iterable[Path], Callable[[str], None]]:
    """``inputs`` with a progress bar on stderr (several inputs, tqdm installed), and a line writer."""
    try:
        from tqdm import tqdm
    except ImportError:  # e.g. Blender's Python: no bar
        return inputs, lambda line: print(line, file=sys.stderr, flush=True)
    tqdm.monitor_interval = 0  # no monitor thread: a bar needs none, and no thread starts behind the batch
    bar = tqdm(inputs, unit="photo", disable=len(inputs) < 2, file=sys.stderr)
    return bar, lambda line: tqdm.write(line, file=sys.stderr)


def run_batch(inputs: Sequence[Path], work: Callable[[Path], object]) -> int:
    """Run ``work`` on every input in order; each failure is one ``error: <file>: <reason>``
    line on stderr and the batch goes on.  Returns :data:`EXIT_OK` when every input succeeded,
    else :data:`EXIT_FAILED`.  A signal (inside :func:`signals_interrupt`) stops the batch with
    :class:`Interrupted`, even one that a library swallowed on the way."""
    failed = 0
    bar, write = _progress(inputs)
    for path in bar:
        try:
            work(path)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # every failure of one input is its one line, never a traceback
            if _signalled:  # the signal, dressed as a decoder's failure on the way out
                raise Interrupted(_signalled[-1]) from None
            failed += 1
            if not isinstance(exc, (Depth3DError, OSError, ValueError, MemoryError)):
                exc = Depth3DError(f"internal error ({type(exc).__name__}: {exc})")
            write(f"error: {user_message(exc, path)}")
        if _signalled:  # swallowed on the way (e.g. inside a Blender operator)
            raise Interrupted(_signalled[-1])
    return EXIT_FAILED if failed else EXIT_OK


def exit_status(command: Callable[[], int]) -> int:
    """``command()``'s exit status, run inside :func:`signals_interrupt`: SIGINT/SIGTERM (or a
    KeyboardInterrupt) print one ``error: interrupted …`` line and give 130/143; a set-up error
    that hits every input (a missing model, an unreadable depth folder) prints its one
    ``error:`` line and gives :data:`EXIT_FAILED`.  A :class:`UsageError` propagates: the caller
    shows its usage and exits with :data:`EXIT_USAGE` (:func:`depth3d.cli.run_command`)."""
    try:
        with signals_interrupt():
            return command()
    except UsageError:
        raise
    except Interrupted as exc:
        print(f"error: interrupted ({'SIGINT' if exc.status == 130 else 'SIGTERM'})", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (Depth3DError, OSError, MemoryError) as exc:  # set-up failures that hit every input
        print(f"error: {user_message(exc)}", file=sys.stderr)
        return EXIT_FAILED
