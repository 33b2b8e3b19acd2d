import sys

from siaga.gateway.cli import main

sys.exit(main())
