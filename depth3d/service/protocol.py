"""The options of ``depth3d serve``, and the wire format it speaks (:mod:`depth3d.backends.protocol`,
re-exported here for code that imported it from the service)."""
from __future__ import annotations

import argparse
import os

from ..backends import protocol as _wire
from ..backends.protocol import *  # noqa: F403  (the wire format, re-exported)
from ..backends.protocol import DEFAULT_HOST, DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, DEFAULT_PORT, TOKEN_ENV
from ..backends.spec import ModelOptions
from ..schema import add_arguments


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``depth3d serve`` (also ``python -m depth3d.service``).

    Here rather than in :mod:`.server`, so that the CLI builds its parser without importing
    the HTTP server.
    """
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="address to listen on (default %(default)s; anything but loopback needs --token)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="port (default %(default)s; 0 picks a free one, printed at start)")
    parser.add_argument("--model", default=None, metavar="ID|DIR", help="hub id or local folder of the depth model")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps (default auto)")
    add_arguments(parser, ModelOptions)  # --dtype
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV) or None, metavar="T",
                        help=f"require 'Authorization: Bearer T' (default: ${TOKEN_ENV})")
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, metavar="N",
                        help="largest request body in bytes (default %(default)s)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help="largest image in pixels, judged from its header (default %(default)s)")
    parser.add_argument("--watch-stdin", action="store_true", help=argparse.SUPPRESS)


__all__ = [*_wire.__all__, "add_serve_arguments"]
