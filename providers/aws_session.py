"""boto3 clients for discovery: credentials (optionally an assumed role) and client settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import (
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
)

SESSION_NAME = "meshfed-discovery"


def client_config(call_timeout: float, *, custom_endpoint: bool) -> Config:
    """One attempt per SDK call: the provider retries through ``call_with_retries``, whose
    policy caps Retry-After and applies to every cloud alike. botocore's own retries would
    multiply with it (4 x 3 attempts) and stretch a failing sync far past its deadline.

    botocore prepends ``data-`` to the host of Cloud Map's DiscoverInstances, which AWS serves
    from data-servicediscovery.<region>.amazonaws.com; a custom endpoint (moto, a VPC endpoint)
    is one host for every operation, so the prefix is only kept for AWS's own endpoints."""
    return Config(
        connect_timeout=call_timeout,
        read_timeout=call_timeout,
        retries={"mode": "standard", "total_max_attempts": 1},
        inject_host_prefix=not custom_endpoint,
        user_agent_extra="meshfed",
    )


def discovery_session(
    role_arn: str | None, *, sts_region: str, endpoint_url: str | None, config: Config
) -> boto3.Session:
    """A session on boto3's default credential chain or, with ``role_arn``, on that role's
    credentials, assumed through STS on first use and refreshed before they expire (botocore
    refreshes 15 minutes ahead, and on demand 10 minutes ahead)."""
    if role_arn is None:
        return boto3.Session()
    sts = boto3.Session().client(
        "sts", region_name=sts_region, endpoint_url=endpoint_url, config=config
    )

    def assume() -> dict[str, str]:
        # A failure here surfaces from the call that needed credentials, where the provider
        # classifies it; botocore's message names the AssumeRole operation.
        answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION_NAME)
        credentials = answer["Credentials"]
        expiration: datetime = credentials["Expiration"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": expiration.isoformat(),
        }

    core = botocore.session.get_session()
    core.register_component("credential_provider", CredentialResolver([_AssumedRole(assume)]))
    return boto3.Session(botocore_session=core)


class _AssumedRole(CredentialProvider):  # type: ignore[misc]
    METHOD = "meshfed-assume-role"

    def __init__(self, assume: Callable[[], dict[str, str]]) -> None:
        super().__init__()
        self._assume = assume

    def load(self) -> DeferredRefreshableCredentials:
        return DeferredRefreshableCredentials(refresh_using=self._assume, method=self.METHOD)
