"""The one exception type for errors a user can cause and fix."""


class LivecmdError(Exception):
    """A problem with the user's input (a path, a clip, a device, a weights file).

    Its message is meant for people: one line that says what was wrong and what to do. The CLI
    prints it to stderr and exits with code 2, without a traceback.
    """
