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
    """A request refused on purpose: ``field`` names the part at fault; ``status`` is its HTTP status."""

    status = 400

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        self.candidates: tuple[str, ...] = ()
        super().__init__(f"{field}: {message}")


class ValidationFailed(RequestRefused):
    """The input cannot be used as sent (422); ``candidates`` lists what the sender may have meant."""

    status = 422

    def __init__(self, field: str, message: str, candidates: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(field, message)
        self.candidates = tuple(candidates)


class Forbidden(RequestRefused):
    """The caller may not do this (403)."""

    status = 403


class NotFound(RequestRefused):
    """What the request names does not exist (404)."""

    status = 404


class Conflict(RequestRefused):
    """The request conflicts with the current state (409)."""

    status = 409


class Unavailable(RequestRefused):
    """A part the request needs is not available now (503)."""

    status = 503
