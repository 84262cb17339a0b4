"""Mean-field optimality and escaping active sets (placeholder: being written, issue 4)."""
