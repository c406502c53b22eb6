"""Map what boto3/botocore raise onto ProviderError, so retries and reports treat AWS like the
other clouds."""

from __future__ import annotations

from botocore import exceptions as bexc

from providers.base import ProviderError, ProviderErrorKind
from providers.calls import retry_after_seconds

# Every AWS service spells "slow down" its own way: EC2 RequestLimitExceeded, ELBv2 and STS
# Throttling, Cloud Map ThrottlingException, S3-style SlowDown.
THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
    }
)
AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AuthFailure",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
    }
)
AUTH_FIX = (
    "give the discovery identity ec2:DescribeInstances, elasticloadbalancing:DescribeLoadBalancers,"
    " DescribeTags and DescribeListeners, servicediscovery:List* and DiscoverInstances"
    " (and sts:AssumeRole on role_arn if set), or fix its credentials"
)


def classify(exc: Exception, doing: str) -> ProviderError | None:
    """``doing`` says which call failed ("list EC2 instances in us-east-1 (page 3)"). None for an
    exception that is not a cloud failure, i.e. a bug that must surface unchanged."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, bexc.ClientError):
        return _classify_response(exc, doing)
    # ReadTimeoutError is also an HTTPClientError, so timeouts are checked first.
    if isinstance(exc, bexc.ConnectTimeoutError | bexc.ReadTimeoutError):
        return ProviderError(
            ProviderErrorKind.TIMEOUT,
            f"AWS {doing} timed out ({exc}): raise call_timeout if the API is just slow",
        )
    if isinstance(exc, bexc.EndpointConnectionError | bexc.HTTPClientError):
        return ProviderError(
            ProviderErrorKind.UNAVAILABLE,
            f"AWS {doing} could not reach the endpoint ({exc}): check endpoint_url and the network",
        )
    if isinstance(
        exc,
        bexc.NoCredentialsError | bexc.PartialCredentialsError | bexc.CredentialRetrievalError,
    ):
        return ProviderError(
            ProviderErrorKind.AUTH,
            f"AWS {doing}: no usable credentials ({exc}): set AWS_PROFILE or AWS_ACCESS_KEY_ID,"
            " or attach an instance profile / IRSA role",
        )
    return None


def _classify_response(exc: bexc.ClientError, doing: str) -> ProviderError:
    error = exc.response.get("Error", {})
    metadata = exc.response.get("ResponseMetadata", {})
    code = str(error.get("Code", ""))
    status = int(metadata.get("HTTPStatusCode", 0))
    detail = f"AWS {doing} answered {status} {code}: {error.get('Message', '')}"
    wait = retry_after_seconds(metadata.get("HTTPHeaders"))
    if code in THROTTLE_CODES or status == 429:
        return ProviderError(
            ProviderErrorKind.THROTTLED,
            f"{detail}; raise refresh_interval or the account's API rate limit",
            retry_after=wait,
        )
    if code in AUTH_CODES or status in (401, 403):
        return ProviderError(ProviderErrorKind.AUTH, f"{detail}; {AUTH_FIX}")
    if status >= 500:
        # A 503's Retry-After says how long the outage is expected to last (RFC 9110 §10.2.3).
        return ProviderError(ProviderErrorKind.UNAVAILABLE, detail, retry_after=wait)
    return ProviderError(ProviderErrorKind.INVALID, f"{detail}; check the provider's regions")
