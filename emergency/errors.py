"""The project's exception hierarchy; messages say what was wrong and with what value."""


class EmergencyError(Exception):
    """Base class for errors this system raises on purpose."""


class BrokerError(EmergencyError):
    """The Kafka broker could not be started or reached."""


class StoreError(EmergencyError):
    """The COP store could not be opened or used."""


class ConfigError(EmergencyError):
    """A setting has a value the system cannot use."""


class RequestRefused(EmergencyError):
    """A request the system refuses on purpose; ``status`` is its HTTP status, ``field`` the input at fault."""

    status = 400

    def __init__(self, field: str, message: str, candidates: tuple[str, ...] | list[str] = ()) -> None:
        self.field = field
        self.message = message
        self.candidates = tuple(candidates)
        super().__init__(f"{field}: {message}")

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ValidationFailed(RequestRefused):
    """The input is not acceptable as given (422); ``candidates`` lists acceptable values when known."""

    status = 422

    def __init__(self, field: str, message: str, candidates: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(field, message, candidates)


class Forbidden(RequestRefused):
    """The principal may not do this (403)."""

    status = 403

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)


class NotFound(RequestRefused):
    """What the request names does not exist (404)."""

    status = 404

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)


class Conflict(RequestRefused):
    """The request conflicts with the current state (409)."""

    status = 409

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)


class Unavailable(RequestRefused):
    """A part the request needs is not available right now (503)."""

    status = 503

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)


class TooLarge(RequestRefused):
    """The input is larger than the system accepts (413): bytes or pixels."""

    status = 413

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)


class UnsupportedType(RequestRefused):
    """The input's content is of a type the system does not accept (415)."""

    status = 415

    def __init__(self, field: str, message: str, candidates: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(field, message, candidates)


class RateLimited(RequestRefused):
    """Too many requests from one client address, contact or application (429, with ``Retry-After``)."""

    status = 429

    def __init__(self, field: str, message: str, retry_after_s: int) -> None:
        super().__init__(field, message)
        self.retry_after_s = retry_after_s
