class StackError(Exception):
    """A local service could not start; the message is one line that says what to do."""
