"""The flags of ``meshfed gateway``; kept apart so building the CLI imports nothing heavy."""

from __future__ import annotations

import argparse


def add_gateway_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="the meshfed.yaml with clusters/services")
    parser.add_argument("--cluster", required=True, help="the cluster this gateway runs in")
    parser.add_argument("--listen", required=True, help="HOST:PORT for TLS traffic (15443)")
    parser.add_argument("--mode", choices=["passthrough", "mtls"], default="passthrough")
    parser.add_argument(
        "--server", help="meshfed API URL: routes by long-poll, outlier reports; mtls: the SVID"
    )
    parser.add_argument("--token", help="API token (default: env MESHFED_TOKEN)")
    parser.add_argument("--metrics-listen", help="HOST:PORT serving Prometheus /metrics")
    parser.add_argument(
        "--connect-timeout", help="per connect attempt, e.g. 500ms (default: per_try_timeout)"
    )
    parser.add_argument("--rate-limit", help="new connections per route, e.g. 100/s (default off)")
    parser.add_argument("--burst", type=int, help="tokens a route may bank (default: one second)")
    parser.add_argument("--queue-timeout", default="100ms", help="longest wait for a token")
    parser.add_argument("--drain-timeout", default="10s", help="time open connections get to end")
    parser.add_argument("--hello-timeout", default="10s", help="time a client has to send SNI")
    parser.add_argument("--access-log", default="-", help="file for JSON access lines; - = stdout")
    parser.add_argument(
        "--reuse-port",
        action="store_true",
        help="share --listen with other gateway processes (SO_REUSEPORT): one per core",
    )
    parser.add_argument("--svid-cert", help="mtls: the gateway's SVID chain, PEM, leaf first")
    parser.add_argument("--svid-key", help="mtls: the SVID's private key, PEM")
    parser.add_argument("--bundle", help="mtls: PEM roots of the federation's trust domain")
    parser.add_argument(
        "--federated-bundle",
        action="append",
        default=[],
        metavar="TRUST_DOMAIN=FILE",
        help="mtls: PEM roots of a federated trust domain (repeat for each)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
