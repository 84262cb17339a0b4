"""Gaussian populations with a teacher measure (placeholder: being written, issue 3)."""


class GaussianTeacher:  # replaced by the numeric-layer work
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("GaussianTeacher is being written (issue 3)")
