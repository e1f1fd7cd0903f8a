class DomainError(Exception):
    """A rule of the domain said no. `code` is stable and machine-readable; the message is for people.

    Every door turns it into its own form: the API into a 4xx JSON body, pages into a
    form error, admin into an error message.
    """

    def __init__(self, message: str, code: str, **extra):
        super().__init__(message)
        self.message = message
        self.code = code
        # Machine-readable facts beside the code (e.g. `opens_at`); the API adds them to the error body.
        self.extra = extra


class Throttled(DomainError):
    """Too many requests from one user: the next is accepted in `wait` seconds."""

    def __init__(self, wait: int):
        super().__init__(f"Request was throttled. Expected available in {wait} seconds.", "throttled")
        self.wait = wait
