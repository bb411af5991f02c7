"""The CLI and the one module that wires the parts together."""
