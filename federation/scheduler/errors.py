"""Errors the scheduler raises; each message names the thing and what to change."""


class SchedulerError(Exception):
    """Base of every scheduler error."""


class RoutingSpecError(SchedulerError, ValueError):
    """A routing spec the scheduler cannot apply."""


class InvalidEndpointError(SchedulerError, ValueError):
    """An endpoint the scheduler cannot route to as given."""


class UnknownServiceError(SchedulerError, KeyError):
    """resolve() or remove_service() named a service the scheduler does not hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown service"


class NoHealthyEndpointError(SchedulerError):
    """A pick found nothing to send traffic to (Envoy's "no healthy upstream")."""


class UnknownEndpointError(SchedulerError, KeyError):
    """A health update named an endpoint the scheduler does not hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown endpoint"
