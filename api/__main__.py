"""``python -m api``: the same as ``siaga-hub``."""

import sys

from api.cli import main

sys.exit(main())
