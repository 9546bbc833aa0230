"""The project's exception hierarchy; messages say what was wrong and with what value."""


class EmergencyError(Exception):
    """Base class for errors this system raises on purpose."""


class BrokerError(EmergencyError):
    """The Kafka broker could not be started or reached."""


class StoreError(EmergencyError):
    """The COP store could not be opened or used."""


class ConfigError(EmergencyError):
    """A setting has a value the system cannot use."""
