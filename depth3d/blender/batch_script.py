"""Run the headless batch in a Blender that does not have the extension installed.

    blender -b --python depth3d/blender/batch_script.py -- convert photos/ -o out/ [--blend scene.blend]
    python depth3d/blender/batch_script.py convert photos/ -o out/      # Python with the bpy module

Puts this checkout on ``sys.path`` and calls :func:`depth3d.blender.cli.main`; the exit status
is that of ``depth3d convert`` (0 all written, 1 some failed, 2 usage).  Blender's Python needs
nothing beyond what it ships (NumPy); the extension adds ``blender -b -c depth3d convert …``.
"""
import sys
from pathlib import Path


def _arguments(argv: list[str]) -> list[str]:
    """The arguments after ``--`` (Blender), else after the script name (plain Python)."""
    return argv[argv.index("--") + 1:] if "--" in argv else argv[1:]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from depth3d.blender.cli import exit_with, main

    exit_with(main(_arguments(sys.argv)))  # the bpy module may hang in its exit handlers
