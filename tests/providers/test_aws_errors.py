"""How botocore failures are classified: kind, retryability and Retry-After."""

from __future__ import annotations

import pytest
from botocore import exceptions as bexc

from providers.aws_errors import classify
from providers.base import ProviderError, ProviderErrorKind

K = ProviderErrorKind


def client_error(code: str, status: int, headers: dict[str, str] | None = None) -> Exception:
    response = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}},
    }
    error: Exception = bexc.ClientError(response, "DescribeInstances")
    return error


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (client_error("RequestLimitExceeded", 503), K.THROTTLED),
        (client_error("Throttling", 400), K.THROTTLED),
        (client_error("ThrottlingException", 400), K.THROTTLED),
        (client_error("TooManyRequestsException", 400), K.THROTTLED),
        (client_error("SlowDown", 503), K.THROTTLED),
        (client_error("SomethingNew", 429), K.THROTTLED),
        (client_error("InternalError", 500), K.UNAVAILABLE),
        (client_error("ServiceUnavailable", 503), K.UNAVAILABLE),
        (client_error("UnauthorizedOperation", 403), K.AUTH),
        (client_error("AccessDenied", 403), K.AUTH),
        (client_error("InvalidClientTokenId", 403), K.AUTH),
        (client_error("ExpiredToken", 400), K.AUTH),
        (client_error("InvalidParameterValue", 400), K.INVALID),
        (bexc.ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), K.TIMEOUT),
        (bexc.ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"), K.TIMEOUT),
        (bexc.EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), K.UNAVAILABLE),
        (bexc.ConnectionClosedError(endpoint_url="http://127.0.0.1:1"), K.UNAVAILABLE),
        (bexc.NoCredentialsError(), K.AUTH),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_botocore_failures_map_to_provider_error_kinds(exc: Exception, kind: K) -> None:
    error = classify(exc, "list EC2 instances in us-east-1")

    assert error is not None
    assert error.kind is kind
    assert "list EC2 instances in us-east-1" in str(error)
    assert error.retryable is (kind in (K.THROTTLED, K.UNAVAILABLE, K.TIMEOUT))


def test_a_bug_is_not_classified_so_it_propagates_unchanged() -> None:
    assert classify(KeyError("Reservations"), "list EC2 instances") is None


def test_a_provider_error_raised_while_fetching_credentials_passes_through() -> None:
    raised = ProviderError(K.AUTH, "no role")

    assert classify(raised, "list EC2 instances") is raised


@pytest.mark.parametrize(("code", "status"), [("Throttling", 400), ("ServiceUnavailable", 503)])
def test_throttling_and_unavailability_carry_retry_after_seconds(code: str, status: int) -> None:
    error = classify(client_error(code, status, {"retry-after": "7"}), "x")

    assert error is not None and error.retry_after == 7.0
