"""The ``meshfed`` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from federation import __version__
from federation.config import dump_json_schema, load_config
from federation.config_checks import missing_files
from federation.gateway.flags import add_gateway_arguments
from federation.logs import configure_logging
from federation.model import Role
from federation.problems import InvalidInputError, Problem

Command = Callable[[argparse.Namespace], int]


def _print_problems(source: str, problems: Sequence[Problem], label: str = "error") -> None:
    for problem in problems:
        print(f"{source}: {label}: {problem.path or '(document)'}: {problem.message}")
        if problem.hint:
            print(f"    hint: {problem.hint}")


def cmd_validate(args: argparse.Namespace) -> int:
    failed = False
    for name in args.files:
        try:
            config = load_config(name)
        except InvalidInputError as exc:
            _print_problems(name, exc.problems)
            failed = True
            continue
        warnings = missing_files(config)
        _print_problems(name, warnings, "warning")
        print(f"{name}: ok" + (f" ({len(warnings)} warning(s))" if warnings else ""))
    return 1 if failed else 0


def cmd_schema(args: argparse.Namespace) -> int:
    print(dump_json_schema())
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from federation.service import load_for_serving, serve_until_signal

    configure_logging(args.log_level)
    try:
        config = load_for_serving(args.config)
    except InvalidInputError as exc:
        _print_problems(args.config, exc.problems)
        return 1
    from federation.leadership import LeaseTTLError
    from federation.tracing import TracingConfigError
    from federation.trust.runtime import TrustStartupError

    try:
        asyncio.run(serve_until_signal(config, args.store))
    except (TrustStartupError, LeaseTTLError, TracingConfigError) as exc:
        print(f"meshfed serve: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from federation.demo import run_demo

    return asyncio.run(run_demo(args.duration))


def cmd_discover(args: argparse.Namespace) -> int:
    from rich.console import Console

    from federation.discover_command import UnknownProviderError, discover

    try:
        config = load_config(args.config)
        width = None if sys.stdout.isatty() else 160
        return asyncio.run(discover(config, args.provider, args.output, Console(width=width)))
    except InvalidInputError as exc:
        _print_problems(args.config, exc.problems)
    except UnknownProviderError as exc:
        print(exc, file=sys.stderr)
    return 1


def cmd_resolve(args: argparse.Namespace) -> int:
    import json
    import os

    from rich.console import Console

    from federation.resolve_command import (
        ClientArgs,
        ResolveCommandError,
        render,
        resolve_local,
        resolve_remote,
    )
    from federation.routing.resolver import ResolveInputError
    from federation.scheduler import UnknownServiceError

    client = ClientArgs(args.service, args.from_ip, args.from_region, args.explain)
    console = Console(width=None if sys.stdout.isatty() else 160)
    try:
        if args.config is not None:
            body = asyncio.run(resolve_local(load_config(args.config), client, console))
        else:
            token = args.token or os.environ.get("MESHFED_TOKEN")
            body = asyncio.run(resolve_remote(args.server, token, client))
    except InvalidInputError as exc:
        _print_problems(args.config, exc.problems)
        return 1
    except (ResolveCommandError, ResolveInputError, UnknownServiceError) as exc:
        print(f"meshfed resolve: {exc}", file=sys.stderr)
        return 1
    if args.output == "json":
        print(json.dumps(body, indent=2))
        return 0
    console.print(render(body))
    for line in body["explain"]:
        console.print(line, highlight=False, markup=False)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    import os
    from datetime import UTC, datetime

    from rich.console import Console

    from federation.status_command import StatusCommandError, fetch_status, render

    token = args.token or os.environ.get("MESHFED_TOKEN")
    try:
        report = asyncio.run(fetch_status(args.server, token))
    except StatusCommandError as exc:
        print(f"meshfed status: {exc}", file=sys.stderr)
        return 1
    Console(width=None if sys.stdout.isatty() else 160).print(render(report, datetime.now(UTC)))
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    from federation.gateway.command import main as run_gateway

    return run_gateway(args)


def cmd_token_create(args: argparse.Namespace) -> int:
    from federation.token_command import create_token

    return asyncio.run(create_token(args))


def cmd_trust(args: argparse.Namespace) -> int:
    from federation import trust_command

    action = getattr(trust_command, args.trust_action)
    return asyncio.run(trust_command.run_trust_command(args, action))


def _add_trust_actions(trust: argparse.ArgumentParser, audit: argparse.ArgumentParser) -> None:
    actions = trust.add_subparsers(dest="trust_command", required=True, metavar="ACTION")
    specs = [
        ("init", "create the KEK file (if absent), the CAs and the first bundles", "trust_init"),
        ("status", "CA expiry, bundle sequence, rotation phase, foreign bundles", "trust_status"),
        ("rotate", "prepare a CA rotation (a running serve activates and retires)", "trust_rotate"),
        ("issue", "issue an X509-SVID from a CSR, or a fresh key and CSR", "trust_issue"),
        ("bundle", "print an own trust domain's bundle (JWK Set)", "trust_bundle"),
    ]
    for name, help_text, function in specs:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(trust_action=function)
        sub.add_argument("--config", required=True)
        if name != "status":
            sub.add_argument(
                "--trust-domain", help="an own trust domain (default: the federation's)"
            )
        if name == "issue":
            sub.add_argument("--spiffe-id", required=True)
            source = sub.add_mutually_exclusive_group(required=True)
            source.add_argument("--csr", help="PEM CSR file; prints the answer as JSON")
            source.add_argument("--out-dir", help="make a key and CSR here; write svid.key/pem")
    verify = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    sub = verify.add_parser("verify", help="walk the audit hash chain; exit 1 on any problem")
    sub.set_defaults(trust_action="audit_verify")
    sub.add_argument("--config", required=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meshfed",
        description="Federate service meshes across AWS, GCP and Azure.",
        epilog="Run `meshfed COMMAND --help` for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"meshfed {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, example: str, run: Command) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(run=run)
        return sub

    sub = command(
        "serve",
        "run the service: API, discovery, scheduler, trust",
        "meshfed serve --config meshfed.yaml",
        cmd_serve,
    )
    sub.add_argument("--config", required=True, help="the meshfed.yaml to serve")
    sub.add_argument("--store", help="store URL, overriding the config's (redis://…, sqlite:///…)")
    sub.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    sub = command(
        "demo",
        "run a whole federation on this machine, no cloud needed",
        "meshfed demo --duration 30",
        cmd_demo,
    )
    sub.add_argument(
        "--duration",
        type=float,
        default=20.0,
        help="seconds of traffic to show (split over the steady, failover and recovery phases)",
    )

    sub = command(
        "validate",
        "check config files; exit 0 when clean, 1 with problems",
        "meshfed validate meshfed.yaml",
        cmd_validate,
    )
    sub.add_argument("files", nargs="+", metavar="FILE")

    sub = command(
        "discover",
        "run one discovery pass and print the endpoints found",
        "meshfed discover --config meshfed.yaml --provider aws-prod -o json",
        cmd_discover,
    )
    sub.add_argument("--config", required=True)
    sub.add_argument("--provider", help="only this provider (default: all)")
    sub.add_argument("-o", "--output", choices=["table", "json"], default="table")

    sub = command(
        "resolve",
        "show where a client's requests for a service go, and why",
        "meshfed resolve payments.prod --from-ip 81.2.69.142 --server http://127.0.0.1:8470",
        cmd_resolve,
    )
    sub.add_argument("service", metavar="SERVICE")
    client = sub.add_mutually_exclusive_group(required=True)
    client.add_argument("--from-ip", metavar="IP", help="the client's IP (located by GeoIP2)")
    client.add_argument("--from-region", metavar="CLOUD:REGION", help="the client's region")
    source = sub.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", metavar="FILE", help="resolve locally after one discovery")
    source.add_argument("--server", metavar="URL", help="ask a running meshfed")
    sub.add_argument("--token", help="API token for --server (default: env MESHFED_TOKEN)")
    sub.add_argument("-o", "--output", choices=["table", "json"], default="table")
    sub.add_argument("--explain", action="store_true", help="say why each level and share")

    sub = command(
        "status",
        "one screen of a running federation: clusters, services, providers, trust",
        "MESHFED_TOKEN=... meshfed status --server http://127.0.0.1:8470",
        cmd_status,
    )
    sub.add_argument("--server", required=True, metavar="URL", help="a running meshfed's API")
    sub.add_argument("--token", help="API token (default: env MESHFED_TOKEN)")

    sub = command(
        "gateway",
        "run the east-west gateway: route TLS by SNI to this cluster or the next one",
        "meshfed gateway --config meshfed.yaml --cluster aws-use1 --listen 0.0.0.0:15443",
        cmd_gateway,
    )
    add_gateway_arguments(sub)

    command(
        "schema",
        "print the config file's JSON Schema",
        "meshfed schema > meshfed.schema.json",
        cmd_schema,
    )

    token = command(
        "token",
        "manage API tokens",
        "meshfed token create --role operator --config meshfed.yaml",
        cmd_token_create,
    )
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_commands.add_parser(
        "create",
        help="create a token; prints it once and stores only its hash",
        epilog="example:\n  meshfed token create --role operator --name ci --config meshfed.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", help="who the token is for (default: ROLE-RANDOM)")
    where = create.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", help="use the store this config names")
    where.add_argument("--store", help="store URL")

    trust = command("trust", "CA operations", "meshfed trust init --config meshfed.yaml", cmd_trust)
    audit = command(
        "audit", "check the audit log", "meshfed audit verify --config meshfed.yaml", cmd_trust
    )
    _add_trust_actions(trust, audit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Command = args.run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
