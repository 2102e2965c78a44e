"""pika-mcp: Pika's video models on fal.ai as MCP tools, every generation a durable job."""

__version__ = "0.1.0"
