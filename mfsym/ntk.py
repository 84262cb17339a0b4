"""Lazy regime (placeholder: being written, issue 6)."""
