"""Benchmarks: what pika-mcp costs on top of fal, measured against baselines run side by side (`python -m bench`)."""
