"""Spectra, certificates, check and verify (placeholder: being written, issue 5)."""


def check(*args, **kwargs):
    raise NotImplementedError("check is being written (issue 5)")


def verify(*args, **kwargs):
    raise NotImplementedError("verify is being written (issue 5)")
