"""``python -m tulou``: the same as the ``tulou`` console script."""

import sys

from tulou.cli import main

sys.exit(main())
