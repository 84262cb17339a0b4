"""Derivation engine and LaTeX (placeholder: being written, issue 2)."""


def derive(*args, **kwargs):
    raise NotImplementedError("derive is being written (issue 2)")
