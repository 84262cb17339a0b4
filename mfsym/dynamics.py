"""Particle gradient flow and stationary points (placeholder: being written, issue 3)."""


def flow(*args, **kwargs):
    raise NotImplementedError("flow is being written (issue 3)")


def stationary(*args, **kwargs):
    raise NotImplementedError("stationary is being written (issue 3)")
