"""``python -m pytest_zdm.cli``: the same as ``zdm-verify``."""

import sys

from pytest_zdm.cli.main import main

sys.exit(main())
