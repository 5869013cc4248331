"""The one error type users see: its message is a single line naming the file/field and what to do."""


class NNModelError(Exception):
    """A user-facing error. The CLI and the PlatformIO hook print str(err) on one line, no traceback."""
