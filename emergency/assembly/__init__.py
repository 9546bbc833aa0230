"""The assembly: the one place that wires the kernel, feeds, mapping and alerts together (app, runtime, CLI, ops)."""
