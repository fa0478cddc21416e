"""The `finpace` command line: run the platform, one service, migrations, dev tokens and tooling."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

from shared.config import Settings

console = Console(stderr=True, soft_wrap=True)
out = Console()

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Stop(BaseException):
    """Raised from the signal handler to unwind `finpace up` through its cleanup."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise SystemExit(code)


def _lazy(module: str, attribute: str, what: str) -> Any:
    """Import `module.attribute` on demand; exit with a clear message when it does not exist yet."""
    import importlib

    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            _fail(f"{what} is not available: module {module!r} is not importable.")
        raise
    if not hasattr(loaded, attribute):
        _fail(f"{what} is not available: {module}.{attribute} does not exist.")
    return getattr(loaded, attribute)


def _settings(**overrides: Any) -> Settings:
    try:
        settings = Settings()
    except ValueError as exc:
        _fail(str(exc))
    data_dir = settings.data_dir.expanduser().absolute()
    return settings.model_copy(update={"data_dir": data_dir, **overrides})


def _up_holds(data_dir: Path) -> bool:
    """Whether a running `finpace up` holds the data directory (its up.lock), so its embedded servers are its own."""
    import fcntl

    path = data_dir / "up.lock"
    if not path.is_file():
        return False
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


@contextlib.contextmanager
def embedded_servers(
    settings: Settings, *, postgres: bool = True, nats: bool = True, owner: bool = False
) -> Iterator[Settings]:
    """Start embedded PostgreSQL/NATS for whichever URL is unset; yield settings that point at them.

    While a `finpace up` runs on the same data directory (and this is not that `up`, the `owner`), its
    servers are used as they are and left running: a command such as `finpace audit verify` must not stop them.
    """
    from shared.embedded import EmbeddedNats, EmbeddedPostgres, EmbeddedServerError

    if not owner and _up_holds(settings.data_dir):
        pg = EmbeddedPostgres(settings.data_dir, port=settings.embedded_pg_port)
        server = EmbeddedNats(settings.data_dir, port=settings.embedded_nats_port)
        yield settings.model_copy(
            update={
                "database_url": settings.database_url or (pg.url if postgres else None),
                "nats_url": settings.nats_url or (server.url if nats else None),
            }
        )
        return
    with contextlib.ExitStack() as stack:
        updates: dict[str, Any] = {}
        try:
            if postgres and not settings.database_url:
                with console.status(f"Starting embedded PostgreSQL on 127.0.0.1:{settings.embedded_pg_port}"):
                    pg = EmbeddedPostgres(settings.data_dir, port=settings.embedded_pg_port)
                    stack.enter_context(pg)
                console.print(f"[green]✓[/] PostgreSQL {pg.url} (data {pg.pgdata})", highlight=False)
                updates["database_url"] = pg.url
            if nats and not settings.nats_url:
                with console.status(f"Starting embedded NATS on 127.0.0.1:{settings.embedded_nats_port}"):
                    server = EmbeddedNats(settings.data_dir, port=settings.embedded_nats_port)
                    stack.enter_context(server)
                console.print(f"[green]✓[/] NATS JetStream {server.url} (store {server.store_dir})", highlight=False)
                updates["nats_url"] = server.url
        except EmbeddedServerError as exc:
            _fail(str(exc))
        yield settings.model_copy(update=updates)


class _DomainCommands(click.Group):
    """The finpace group, plus each domain's own command group (`subgraphs.<name>.cli.build_group`).

    Domain groups are found by name through the registry and imported only when invoked or
    listed, so `finpace --help` and `finpace up` stay fast and `shared` imports no domain.
    """

    def _domain_modules(self) -> dict[str, str]:
        import importlib.util

        from shared.registry import load_subgraphs

        try:
            names = [s.name for s in load_subgraphs()]
        except Exception:
            return {}
        return {name: f"subgraphs.{name}.cli" for name in names
                if importlib.util.find_spec(f"subgraphs.{name}.cli") is not None}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._domain_modules()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        module = self._domain_modules().get(name)
        if module is None:
            return None
        build = _lazy(module, "build_group", f"The {name} commands")
        group: click.Command = build(lambda: embedded_servers(_settings(), nats=False))
        return group


@click.group(cls=_DomainCommands, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="finpace", prog_name="finpace")
def main() -> None:
    """Finpace: a federated GraphQL banking platform. Start everything with `finpace up`."""


def _subgraph_names(services: list[Any]) -> list[str]:
    return [s.name for s in services if not s.is_router]


def _migrate(settings: Settings, domains: list[str]) -> None:
    upgrade_all = _lazy("shared.migrations", "upgrade_all", "Migrations")
    with console.status(f"Applying migrations: {', '.join(domains) or 'none'}"):
        try:
            asyncio.run(upgrade_all(settings, domains))
        except Exception as exc:  # shown as one clear line; the servers are still stopped by the caller
            _fail(f"Migrations failed: {type(exc).__name__}: {exc}")
    console.print(f"[green]✓[/] migrations applied ({', '.join(domains) or 'no domain'})")


def _provision(settings: Settings) -> None:
    provision = _lazy("shared.messaging", "provision", "Stream provisioning")
    with console.status("Provisioning JetStream streams and consumers"):
        try:
            asyncio.run(provision(settings))
        except Exception as exc:  # shown as one clear line; the servers are still stopped by the caller
            _fail(f"Provisioning streams and consumers from nats/ failed: {exc}")
    console.print("[green]✓[/] JetStream streams and consumers provisioned")


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    # The first signal unwinds `up`; later ones are ignored so the cleanup itself is not interrupted.
    _ignore_signals()
    raise _Stop(signum)


def _ignore_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def _urls_table(settings: Settings, children: list[Any]) -> Table:
    from shared.registry import AUTH_NAME

    table = Table(title="Finpace is up", title_justify="left", show_lines=False)
    table.add_column("what")
    table.add_column("where", overflow="fold")
    for child in children:
        if child.service.kind == AUTH_NAME:
            table.add_row("dev authorization server (tokens)", f"{child.base_url}/token")
            continue
        label = "router (federated graph)" if child.service.is_router else f"{child.service.name} subgraph"
        table.add_row(label, child.graphql_url)
    table.add_row("PostgreSQL", settings.database_url or "")
    table.add_row("NATS", settings.nats_url or "")
    table.add_row("data dir", str(settings.data_dir))
    table.add_row("logs", str(settings.data_dir / "logs"))
    return table


def _supergraph_path() -> Path:
    """Return the supergraph SDL the router will load (FINPACE_ROUTER_SUPERGRAPH, else the schema dir's)."""
    from shared.registry import schema_dir

    override = os.environ.get("FINPACE_ROUTER_SUPERGRAPH")
    return Path(override) if override else schema_dir() / "supergraph.graphql"


def _select_services(names: tuple[str, ...], skip_router: bool) -> list[Any]:
    from shared.registry import RegistryError, load_services

    try:
        services = load_services()
    except RegistryError as exc:
        _fail(str(exc))
    if names:
        unknown = sorted(set(names) - {s.name for s in services})
        if unknown:
            _fail(f"Unknown service(s) {', '.join(unknown)}; known: {', '.join(s.name for s in services)}.")
        services = [s for s in services if s.name in names]
    selected = []
    for service in services:
        if service.is_router and skip_router:
            continue
        if service.is_router and not _supergraph_path().is_file():
            console.print(
                f"[yellow]![/] skipping router: {_supergraph_path()} does not exist (run `finpace compose`)",
                highlight=False,
            )
            continue
        if not service.is_importable():
            console.print(
                f"[yellow]![/] skipping {service.name}: {service.factory} is not importable yet",
                highlight=False,
            )
            continue
        selected.append(service)
    return selected


@main.command(context_settings=CONTEXT_SETTINGS)
@click.argument("services", nargs=-1)
@click.option("--no-router", is_flag=True, help="Do not start the router.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds each service has to become ready.")
@click.option("--grace", default=10.0, show_default=True, help="Seconds services get to stop before SIGKILL.")
def up(services: tuple[str, ...], no_router: bool, timeout: float, grace: float) -> None:
    """Run the whole platform: embedded servers when needed, migrations, streams, every service.

    SERVICES limits the run to the named services (default: every subgraph in
    schema/supergraph.yaml and the router). Ctrl-C or SIGTERM stops everything.
    """
    from shared.mailsink import start_dev_mail_sink
    from shared.registry import service_port
    from shared.supervisor import StartupError, child_env, dev_auth, first_exited, spawn, stop_children, wait_ready

    selected = _select_services(services, no_router)
    settings = _settings()
    auth, auth_env = dev_auth(settings)  # the dev authorization server (dev profile only), spawned first
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_data_dir(settings.data_dir)
    _check_service_ports(settings, [*selected, *auth])
    children: list[Any] = []
    mail = None
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    exit_code = 0
    try:
        with embedded_servers(settings, owner=True) as live:
            try:
                _migrate(live, _subgraph_names(selected))
                _provision(live)
                mail = start_dev_mail_sink(live)  # dev profile: SMTP on 127.0.0.1:1025 → <data dir>/mail/*.eml
                env = child_env(os.environ, {**_child_overrides(live, selected), **auth_env, **_mail_env(mail)})
                for service in [*auth, *selected]:
                    children.append(spawn(service, live.host, service_port(service), env, live.data_dir / "logs"))
                wait_ready(children, console, timeout=timeout)
                out.print(_urls_table(live, children))
                console.print("Press Ctrl-C to stop.")
                while (dead := first_exited(children)) is None:
                    time.sleep(0.5)
                console.print(
                    f"[bold red]{dead.service.name} exited with code {dead.exited()}[/]; stopping all. "
                    f"Log {dead.log_path}:\n{_tail(dead.log_path)}",
                    highlight=False,
                )
                exit_code = 1
            except StartupError as exc:
                console.print(f"[bold red]error:[/] {exc}", highlight=False)
                exit_code = 1
            except _Stop as stop:
                console.print(f"Received {signal.Signals(stop.signum).name}; stopping.")
            finally:
                _ignore_signals()
                if mail is not None:
                    mail.stop()
                if children:
                    with console.status("Stopping services"):
                        stop_children(children, grace=grace)
                if _embedded(settings):
                    console.print("Stopping the embedded servers")
        console.print("Stopped.")
    except _Stop:
        console.print("Interrupted while starting the servers; stopped.")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lock.close()
    raise SystemExit(exit_code)


def _check_service_ports(settings: Settings, services: list[Any]) -> None:
    """Fail before starting anything when a service's port is already taken."""
    from shared.processes import port_is_free
    from shared.registry import service_port

    for service in services:
        port = service_port(service)
        if not port_is_free(port, settings.host):
            variable = f"FINPACE_PORT_{service.name.upper()}"
            _fail(f"Port {port} for {service.name} is taken by another process; set {variable} or FINPACE_PORT_OFFSET.")


def _lock_data_dir(data_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the data directory for the life of `up` (released by the kernel on exit)."""
    import fcntl

    handle = (data_dir / "up.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "?"
        handle.close()
        _fail(f"Another `finpace up` (pid {owner}) is using {data_dir}; stop it or set FINPACE_DATA_DIR.")
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _embedded(settings: Settings) -> bool:
    return not (settings.database_url and settings.nats_url)


def _tail(path: Path) -> str:
    from shared.processes import tail

    return tail(path)


def _mail_env(mail: Any) -> dict[str, str]:
    """Points the notification subgraph at the dev mail sink, wherever it listens (none: nothing to say)."""
    if mail is None:
        return {}
    return {"FINPACE_NOTIFICATION_SMTP_HOST": mail.host, "FINPACE_NOTIFICATION_SMTP_PORT": str(mail.port)}


def _child_overrides(settings: Settings, services: list[Any]) -> dict[str, str]:
    from shared.registry import service_port
    from shared.supervisor import connect_host

    env = {
        "FINPACE_DATABASE_URL": settings.database_url or "",
        "FINPACE_NATS_URL": settings.nats_url or "",
        "FINPACE_DATA_DIR": str(settings.data_dir),
    }
    # Where each subgraph really listens, so the router can follow port overrides.
    for service in services:
        if not service.is_router:
            port = service_port(service)
            env[f"FINPACE_SUBGRAPH_URL_{service.name.upper()}"] = f"http://{connect_host(settings.host)}:{port}/graphql"
    return env


@main.command(context_settings=CONTEXT_SETTINGS)
@click.argument("name")
@click.option("--host", default=None, help="Interface to bind (default: FINPACE_HOST).")
@click.option("--port", type=int, default=None, help="Port (default: the registry's, see FINPACE_PORT_<NAME>).")
@click.option("--supergraph", type=click.Path(path_type=Path), default=None, help="Router only: supergraph SDL.")
@click.option("--config", "config", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              envvar="FINPACE_ROUTER_CONFIG", help="Router only: YAML settings file (see docs/configuration.md).")
def serve(name: str, host: str | None, port: int | None, supergraph: Path | None, config: Path | None) -> None:
    """Run one service (a subgraph, `router`, or `auth`: the dev authorization server) under uvicorn."""
    import uvicorn

    from shared.registry import AUTH_NAME, RegistryError, get_service, load_factory, service_port

    settings = _settings()
    try:
        service = get_service(name)
        if service.kind == AUTH_NAME and not settings.is_dev:
            _fail("The dev authorization server refuses the production profile: use the bank's identity provider.")
        if (supergraph is not None or config is not None) and not service.is_router:
            _fail("--supergraph and --config apply to the router only.")
        if supergraph is not None:
            os.environ["FINPACE_ROUTER_SUPERGRAPH"] = str(supergraph.absolute())
        factory = load_factory(service)
    except RegistryError as exc:
        _fail(str(exc))
    app, listen = _build_app(factory, settings, service.is_router, supergraph, config)
    uvicorn.run(
        app,
        host=host or listen.get("host") or settings.host,
        port=port or listen.get("port") or service_port(service),
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="on",
    )


def _build_app(
    factory: Callable[..., Any], settings: Settings, is_router: bool, supergraph: Path | None, config: Path | None
) -> tuple[Any, dict[str, Any]]:
    """The service's ASGI app, and the listen address its own settings ask for (the router's file may)."""
    if is_router:
        # The router has its own settings (FINPACE_ROUTER_*); hand them over when they exist. Loaded by
        # string: `shared` never imports the router statically.
        from shared.registry import ROUTER_SETTINGS, load_object

        try:
            router_settings = load_object(ROUTER_SETTINGS)
        except ModuleNotFoundError:
            return factory(settings), {}
        from shared.logging import configure_logging

        configure_logging(level=settings.log_level, json=settings.log_json)  # the router's stdlib logs, redacted
        # Precedence: command-line options, then the file, then FINPACE_ROUTER_* variables, then the profile.
        try:
            file = router_settings.read_yaml(config) if config is not None else {}
        except (OSError, ValueError) as exc:
            _fail(f"Cannot use the router settings file: {exc}")
        options: dict[str, Any] = dict(file)
        if supergraph is not None:
            options["supergraph"] = supergraph.absolute()
        # The platform profile decides the router's developer conveniences unless the file or FINPACE_ROUTER_*
        # says otherwise.
        profile = {**router_settings.profile_defaults(dev=settings.is_dev), "graphiql": settings.graphiql_enabled}
        for name, value in profile.items():
            if name not in file and f"FINPACE_ROUTER_{name.upper()}" not in os.environ:
                options[name] = value
        try:
            resolved = router_settings(**options)
        except ValueError as exc:
            _fail(f"Invalid router settings{f' in {config}' if config else ''}: {exc}")
        listen = {key: file[key] for key in ("host", "port") if key in file}
        return factory(resolved, token_validator=router_token_validator(settings)), listen
    return factory(settings), {}


def router_token_validator(settings: Settings) -> Callable[[str | None], Any]:
    """Adapts the platform's JWT validation to the router's hook (which expects PermissionError)."""
    from shared.auth import TokenValidator, bearer_token
    from shared.errors import AuthError

    validator = TokenValidator(settings)

    async def validate(authorization: str | None) -> dict[str, str] | None:
        try:
            token = bearer_token(authorization)
            principal = await validator.validate_async(token) if token is not None else None
        except AuthError as exc:
            raise PermissionError(exc.message) from None
        if principal is None:
            return None
        # The rate limiter keys on client_id, else sub; field authorization reads `scope`, `roles` and any
        # claim a configured @policy hook needs. Roles and scopes as the platform understood them.
        claims = {k: v for k, v in principal.claims.items() if k not in ("client_id", "roles", "scope")}
        return {
            **claims,
            "sub": principal.sub,
            **({"client_id": principal.client_id} if principal.client_id else {}),
            "roles": sorted(principal.roles),
            "scope": " ".join(sorted(principal.scopes)),
        }

    return validate


@main.command(context_settings=CONTEXT_SETTINGS)
@click.argument("domains", nargs=-1)
def migrate(domains: tuple[str, ...]) -> None:
    """Apply migrations for DOMAINS (default: every subgraph); starts embedded PostgreSQL if needed."""
    from shared.registry import load_subgraphs

    names = list(domains) or [s.name for s in load_subgraphs() if s.is_importable()]
    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with embedded_servers(settings, nats=False) as live:
        _migrate(live, names)


@main.command(context_settings=CONTEXT_SETTINGS)
def provision() -> None:
    """Create or update the JetStream streams and consumers defined in nats/, starting embedded NATS if needed."""
    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with embedded_servers(settings, postgres=False) as live:
        _provision(live)


@main.command(context_settings=CONTEXT_SETTINGS)
@click.option("--role", required=True, help="Role: customer, rm, ops, auditor, partner or admin.")
@click.option("--sub", required=True, help="Subject (user or client id).")
@click.option("--party", "party_ids", multiple=True, help="Party id the subject may act for (repeatable).")
@click.option("--scope", "scopes", multiple=True, help="Scope to grant (repeatable).")
@click.option("--ttl", "ttl_seconds", type=int, default=600, show_default=True,
              help="Lifetime in seconds (RFC 9068 profiles keep access tokens ≤ 10 min).")
def token(role: str, sub: str, party_ids: tuple[str, ...], scopes: tuple[str, ...], ttl_seconds: int) -> None:
    """Print a dev access token that the dev profile accepts."""
    issue_dev_token = _lazy("shared.auth", "issue_dev_token", "Dev tokens")
    settings = _settings()
    try:
        value = issue_dev_token(
            settings,
            role=role,
            sub=sub,
            party_ids=list(party_ids),
            scopes=list(scopes),
            ttl_seconds=ttl_seconds,
        )
    except Exception as exc:  # a refusal (unknown role, prod profile) is reported, not a traceback
        _fail(str(exc))
    click.echo(value)


@main.command(context_settings=CONTEXT_SETTINGS)
@click.option("--demo", is_flag=True, required=True, help="Load the demo bank.")
@click.option("--count", type=int, default=300, show_default=True, help="How many parties to create.")
@click.option(
    "--router-url",
    "--url",
    "url",
    default=None,
    help="Send every mutation through this GraphQL endpoint (e.g. http://127.0.0.1:4000/graphql); "
    "default: each subgraph directly.",
)
def seed(demo: bool, count: int, url: str | None) -> None:
    """Load a realistic demo bank through the public mutations of a running platform."""
    run_demo_seed = _lazy("shared.seed", "run_demo_seed", "Demo seeding")
    settings = _settings()
    result = run_demo_seed(settings, count=count, url=url)
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    if result is not None:
        click.echo(result)


@main.command(context_settings=CONTEXT_SETTINGS)
@click.option("--output", type=click.Path(path_type=Path), default=Path("schema/supergraph.graphql"), show_default=True)
def compose(output: Path) -> None:
    """Compose schema/supergraph.graphql from the subgraph SDL snapshots."""
    write_supergraph = _lazy("router.composition", "write_supergraph", "Composition")
    result = write_supergraph(output)
    if result is not None:
        _fail(f"Composition failed:\n{result}")
    console.print(f"[green]✓[/] composed {output}", highlight=False)


@main.group(context_settings=CONTEXT_SETTINGS)
def schema() -> None:
    """Schema tooling."""


@schema.command("export", context_settings=CONTEXT_SETTINGS)
@click.argument("names", nargs=-1)
@click.option("--check", is_flag=True, help="Fail when a snapshot is stale instead of writing it.")
def schema_export(names: tuple[str, ...], check: bool) -> None:
    """Write each subgraph's SDL to schema/<name>.graphql."""
    export_all = _lazy("shared.schema_export", "export_all", "Schema export")
    kwargs: dict[str, Any] = {"check": check} if check else {}
    if names:
        kwargs["names"] = list(names)
    result = export_all(**kwargs)
    if result is not None:
        click.echo(result)


if __name__ == "__main__":
    sys.exit(main())
