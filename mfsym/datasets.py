"""Data generators and known non-global configurations (placeholder: being written, issue 3)."""
