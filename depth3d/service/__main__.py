"""``python -m depth3d.service [options]``: the same as ``depth3d serve``."""
import sys

from .server import main

sys.exit(main())
