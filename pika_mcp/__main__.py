"""`python -m pika_mcp`: the same as the pika-mcp command."""

import sys

from pika_mcp.cli import main

sys.exit(main())
