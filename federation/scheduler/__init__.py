"""Global scheduler: Envoy-style priority levels, locality weights and panic, with O(1) picks."""

from federation.scheduler.errors import (
    InvalidEndpointError,
    NoHealthyEndpointError,
    RoutingSpecError,
    SchedulerError,
    UnknownEndpointError,
    UnknownServiceError,
)
from federation.scheduler.model import (
    CanaryRule,
    ClientPoint,
    ClusterPlacement,
    EndpointState,
    RoutingMode,
    RoutingSpec,
    ServiceSpec,
)
from federation.scheduler.resolution import Resolution
from federation.scheduler.scheduler import Scheduler

__all__ = [
    "CanaryRule",
    "ClientPoint",
    "ClusterPlacement",
    "EndpointState",
    "InvalidEndpointError",
    "NoHealthyEndpointError",
    "Resolution",
    "RoutingMode",
    "RoutingSpec",
    "RoutingSpecError",
    "Scheduler",
    "SchedulerError",
    "ServiceSpec",
    "UnknownEndpointError",
    "UnknownServiceError",
]
