"""The reviews area."""
