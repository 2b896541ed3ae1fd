"""``python -m farmwatch``."""

import sys

from farmwatch.cli import main

sys.exit(main())
