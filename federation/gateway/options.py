"""``meshfed gateway``'s settings: what its flags and the config file give it, checked before
anything listens, each refusal naming the flag and the fix."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from federation.api.policy_check import policies_in_force
from federation.durations import DurationError, parse_duration
from federation.gateway.mtls import MtlsTerminator, load_terminator
from federation.gateway.ratelimit import RateLimit, parse_rate
from federation.model import MeshfedConfig

TOKEN_ENV = "MESHFED_TOKEN"


class GatewayOptionsError(ValueError):
    """A flag value the gateway cannot run with."""


@dataclass(frozen=True, slots=True)
class GatewayOptions:
    config: MeshfedConfig
    cluster: str
    listen: tuple[str, int]
    server: str | None = None
    token: str | None = None
    metrics_listen: tuple[str, int] | None = None
    connect_timeout: float | None = None
    rate_limit: RateLimit | None = None
    drain_timeout: float = 10.0
    hello_timeout: float = 10.0
    access_log: str = "-"
    reuse_port: bool = False
    terminator: MtlsTerminator | None = None  # mtls mode
    svid_from_server: bool = False  # mtls mode with its SVID issued and renewed by --server


def host_port(flag: str, value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise GatewayOptionsError(f"{flag} {value!r} is not HOST:PORT: write it like 0.0.0.0:15443")
    return host.strip("[]"), int(port)


def seconds(flag: str, value: str) -> float:
    try:
        return parse_duration(value).total_seconds()
    except DurationError as error:
        raise GatewayOptionsError(f"{flag}: {error}") from None


def options_from_args(args: argparse.Namespace, config: MeshfedConfig) -> GatewayOptions:
    token = args.token or os.environ.get(TOKEN_ENV)
    if args.server and not token:
        raise GatewayOptionsError(
            f"--server needs a viewer token (operator, to report outliers): pass --token or "
            f"set {TOKEN_ENV}"
        )
    rate_limit = None
    if args.rate_limit is not None:
        rate = parse_rate(args.rate_limit)
        burst = args.burst if args.burst is not None else max(1, round(rate))
        rate_limit = RateLimit(rate, burst, seconds("--queue-timeout", args.queue_timeout))
    elif args.burst is not None:
        raise GatewayOptionsError("--burst needs --rate-limit; add --rate-limit N/s")
    return GatewayOptions(
        config=config,
        cluster=args.cluster,
        listen=host_port("--listen", args.listen),
        server=args.server,
        token=token,
        metrics_listen=host_port("--metrics-listen", args.metrics_listen)
        if args.metrics_listen
        else None,
        connect_timeout=seconds("--connect-timeout", args.connect_timeout)
        if args.connect_timeout
        else None,
        rate_limit=rate_limit,
        drain_timeout=seconds("--drain-timeout", args.drain_timeout),
        hello_timeout=seconds("--hello-timeout", args.hello_timeout),
        access_log=args.access_log,
        reuse_port=args.reuse_port,
        terminator=terminator_from_args(args, config),
        svid_from_server=args.mode == "mtls"
        and bool(args.server)
        and not any((args.svid_cert, args.svid_key, args.bundle)),
    )


def terminator_from_args(args: argparse.Namespace, config: MeshfedConfig) -> MtlsTerminator | None:
    mtls_flags = (args.svid_cert, args.svid_key, args.bundle)
    if args.mode == "passthrough":
        if any(mtls_flags) or args.federated_bundle:
            raise GatewayOptionsError(
                "--svid-cert, --svid-key and the bundle flags need --mode mtls; add it or drop them"
            )
        return None
    if args.server and not any(mtls_flags) and not args.federated_bundle:
        return None  # the control plane issues the SVID and its bundle, and renews it
    if not all(mtls_flags):
        raise GatewayOptionsError(
            "--mode mtls needs --svid-cert, --svid-key and --bundle (the PEM roots of "
            f"{config.federation.trust_domain}), or --server alone to be issued an SVID; "
            "add the missing ones"
        )
    bundles = {config.federation.trust_domain: args.bundle}
    for entry in args.federated_bundle:
        trust_domain, sep, path = entry.partition("=")
        if not sep or not trust_domain or not path:
            raise GatewayOptionsError(
                f"--federated-bundle {entry!r} is not TRUST_DOMAIN=FILE: write it like "
                "partner.example=/etc/meshfed/partner.pem"
            )
        bundles[trust_domain] = path
    return load_terminator(
        args.svid_cert,
        args.svid_key,
        bundles,
        policies_in_force(config),
        config.authorization.default_action,
        seconds("--hello-timeout", args.hello_timeout),
    )
