"""``python -m leechkit.cli``: the ``leechkit`` command (also ``torchrun -m leechkit.cli train ...``)."""

import sys

from leechkit.cli.main import main

sys.exit(main())
