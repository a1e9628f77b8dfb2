"""The meetings area."""
