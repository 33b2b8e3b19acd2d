"""``python -m api``: the same as ``siaga-hub``."""

import sys

from siaga.api.cli import main

sys.exit(main())
