"""Errors raised by the reference processing: ValueError subclasses, so callers can catch either."""


class ProcessingError(ValueError):
    """A step, its parameters or its input break the processing contract."""


class ImageDecodeError(ProcessingError):
    """An image file could not be decoded."""
