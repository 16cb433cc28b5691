"""The batch on a Ray cluster (``depth3d convert … --ray``): see docs/cluster.md.

:mod:`.runner` drives (imports ``ray`` lazily), :mod:`.stages` runs on the workers,
:mod:`.storage` reads and writes local paths or any ``pyarrow.fs`` filesystem (S3, GCS).
Importing this package imports neither ray nor pyarrow.
"""
from __future__ import annotations

__all__ = ["ClusterError", "run_convert"]


def __getattr__(name: str):
    if name in __all__:
        from . import runner

        return getattr(runner, name)
    raise AttributeError(name)
