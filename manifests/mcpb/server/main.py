"""The MCP bundle's entry point: pika-mcp over stdio, from the packages vendored into server/lib.

Build the bundle with `pip install --target manifests/mcpb/server/lib .[media]` then `mcpb pack manifests/mcpb`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))

from pika_mcp.cli import main  # noqa: E402

sys.exit(main(["serve"]))
