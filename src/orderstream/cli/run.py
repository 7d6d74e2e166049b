"""``orderstream run <service>``: run one service in the foreground (JSON logs on stderr)."""

from __future__ import annotations

import faulthandler
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from orderstream.cli.common import MaxInFlight
from orderstream.cli.context import effective_settings
from orderstream.config import Settings
from orderstream.logging import configure_logging
from orderstream.naming import check_prefix

if TYPE_CHECKING:
    from orderstream.runtime.api import RuntimeConfig

app = typer.Typer(help="Run one orderstream service in the foreground.", no_args_is_help=True)

# Options the services share, each written once.
LogLevel = Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")]
InstanceId = Annotated[
    str, typer.Option(help="stable id of this instance (transactional.id suffix)")
]
StateDir = Annotated[
    Path | None, typer.Option(help="local store snapshots (default: $ORDERSTREAM_HOME)")
]
CommitIntervalMs = Annotated[int, typer.Option(help="transaction per interval")]
TlsCert = Annotated[Path | None, typer.Option(help="serve HTTPS with this PEM certificate (chain)")]
TlsKey = Annotated[Path | None, typer.Option(help="the PEM private key of --tls-cert")]


def _trace_native_crashes() -> None:
    """A segfault in librdkafka (or any C extension) dumps every thread's Python stack to
    stderr, which is the service log under ``up``, instead of the process simply vanishing."""
    faulthandler.enable(all_threads=True)


def _exit_when_librdkafka_hangs() -> None:
    """A transactional call stuck inside librdkafka past its timeout ends the process, which
    ``up``'s supervisor restarts (see ``orderstream.kafka.watchdog``)."""
    from orderstream.kafka.watchdog import WATCHDOG

    WATCHDOG.exit_when_hung()


def _start_service(name: str, log_level: str) -> None:
    configure_logging(log_level, service=name)
    _trace_native_crashes()


def _start_runtime_service(name: str, log_level: str) -> None:
    """A service on the exactly-once runtime, whose transactional calls the watchdog guards."""
    _start_service(name, log_level)
    _exit_when_librdkafka_hangs()


def _instance_config(
    make: Callable[..., RuntimeConfig],
    settings: Settings,
    service: str,
    instance_id: str,
    http_port: int | None,
    state_dir: Path | None,
    commit_interval_ms: int,
) -> RuntimeConfig:
    """The runtime config of one instance; its state under ``state_dir`` (default: the home's
    ``service`` directory), in a directory of its own."""
    base = state_dir or settings.home / service
    return make(
        instance_id,
        http_port=http_port,
        state_dir=base / instance_id,
        commit_interval_ms=commit_interval_ms,
    )


@app.command()
def orders(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port")] = 8080,
    workers: Annotated[
        str,
        typer.Option(
            help="processes serving the port (SO_REUSEPORT); auto: one per CPU",
            envvar="WEB_CONCURRENCY",  # the variable uvicorn and gunicorn read for this
        ),
        # 1: with the broker on the same 2 cores, a second worker cost more CPU per order than
        # it gained (README, orders API); give more where the API has cores of its own
    ] = "1",
    log_level: LogLevel = "INFO",
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    worker_of: Annotated[Path | None, typer.Option(hidden=True)] = None,
) -> None:
    """The orders HTTP API: POST /orders, POST /orders/batch, GET /orders/{id}."""
    from orderstream.services.orders import server
    from orderstream.services.orders.workers import supervise_workers, worker_count
    from orderstream.tls import ServerTls

    _start_service("orders", log_level)
    tls = ServerTls.from_options(tls_cert, tls_key)
    settings = effective_settings()
    if worker_of is not None:  # started by supervise_workers below
        server.serve_worker(settings, host, port, tls, worker_of)
        return
    count = worker_count(workers)
    if count == 1:
        server.serve_orders(settings, host=host, port=port, tls=tls)
        return
    server.check_registry_access(settings)
    supervise_workers(count, host, port, tls, log_level)


@app.command()
def enrichment(
    instances: Annotated[int, typer.Option(help="instances to run as child processes")] = 1,
    instance_id: InstanceId = "0",
    http_port: Annotated[
        int | None, typer.Option(help="/metrics /healthz /readyz port (instance i: port + i)")
    ] = None,
    state_dir: StateDir = None,
    commit_interval_ms: CommitIntervalMs = 100,
    log_level: LogLevel = "INFO",
    reservation_timeout_ms: Annotated[
        int, typer.Option(help="release a reservation with no payment outcome after this")
    ] = 300_000,
) -> None:
    """Stock-reserving enrichment on the exactly-once runtime."""
    if instances < 1:
        raise typer.BadParameter(f"--instances must be at least 1, got {instances}")
    _start_runtime_service("enrichment", log_level)
    settings = effective_settings()
    if instances > 1:
        timeout = ("--reservation-timeout-ms", str(reservation_timeout_ms))
        _supervise_enrichment(
            instances, http_port, state_dir, commit_interval_ms, log_level, timeout
        )
        return
    from orderstream.services.enrichment.processor import EnrichmentConfig
    from orderstream.services.enrichment.service import enrichment_config, run_enrichment

    config = _instance_config(
        enrichment_config, settings, "enrichment", instance_id, http_port, state_dir,
        commit_interval_ms,
    )  # fmt: skip
    run_enrichment(
        settings, config, EnrichmentConfig(reservation_timeout_ms=reservation_timeout_ms)
    )


def _supervise_enrichment(
    instances: int,
    http_port: int | None,
    state_dir: Path | None,
    commit_interval_ms: int,
    log_level: str,
    extra: tuple[str, ...] = (),
) -> None:
    from orderstream.ops.instances import InstanceSupervisor

    argvs = []
    for i in range(instances):
        argv = [sys.executable, "-m", "orderstream.cli", "run", "enrichment"]
        argv += ["--instance-id", str(i), "--commit-interval-ms", str(commit_interval_ms)]
        argv += ["--log-level", log_level, *extra]
        if http_port is not None:
            argv += ["--http-port", str(http_port + i)]
        if state_dir is not None:
            argv += ["--state-dir", str(state_dir)]
        argvs.append(argv)
    InstanceSupervisor(argvs).run()


@app.command()
def analytics(
    host: Annotated[str, typer.Option(help="dashboard interface")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="dashboard and /api/stats port")] = 8088,
    window_ms: Annotated[int, typer.Option(help="tumbling window size")] = 10_000,
    grace_ms: Annotated[int, typer.Option(help="grace period after a window's end")] = 2_000,
    idle_close_ms: Annotated[int, typer.Option(help="close windows of idle partitions")] = 5_000,
    threshold: Annotated[float, typer.Option(help="anomaly score that raises an alert")] = 0.9,
    seed: Annotated[int, typer.Option(help="anomaly model seed")] = 42,
    instance_id: InstanceId = "0",
    topic_prefix: Annotated[
        str, typer.Option(help="alias of ORDERSTREAM_PREFIX: prefix of its topics and group")
    ] = "",
    state_dir: StateDir = None,
    commit_interval_ms: CommitIntervalMs = 100,
    log_level: LogLevel = "INFO",
    tls_cert: TlsCert = None,
    tls_key: TlsKey = None,
    payments_metrics_url: Annotated[
        str, typer.Option(help="payments' /metrics: the circuit state on the dashboard ('' off)")
    ] = "http://127.0.0.1:8092/metrics",
) -> None:
    """Windows, anomaly alerts and the live dashboard on the exactly-once runtime."""
    from orderstream.services.analytics.service import AnalyticsArgs, run_from_args
    from orderstream.tls import ServerTls

    _start_runtime_service("analytics", log_level)
    tls = ServerTls.from_options(tls_cert, tls_key)
    settings = _with_prefix(effective_settings(), topic_prefix)
    args = AnalyticsArgs(
        host, port, window_ms, grace_ms, idle_close_ms, threshold, seed, settings.prefix, tls,
        payments_metrics_url,
    )  # fmt: skip
    run_from_args(settings, args, instance_id, state_dir, commit_interval_ms)


def _with_prefix(settings: Settings, prefix: str) -> Settings:
    """``--topic-prefix``, kept as an alias of ``ORDERSTREAM_PREFIX`` (it wins when given)."""
    if not prefix:
        return settings
    try:
        return settings.model_copy(update={"prefix": check_prefix(prefix)})
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--topic-prefix") from None


# --- payments (issue 13) --------------------------------------------------------------------


@app.command()
def payments(
    instance_id: InstanceId = "0",
    http_port: Annotated[int | None, typer.Option(help="/metrics /healthz /readyz port")] = None,
    state_dir: StateDir = None,
    commit_interval_ms: CommitIntervalMs = 100,
    failure_rate: Annotated[float, typer.Option(help="share of payments declined")] = 0.0,
    limit_cents: Annotated[int, typer.Option(help="base per-customer limit (x1..4)")] = 1_000_000,
    latency_ms: Annotated[float, typer.Option(help="provider base latency")] = 5.0,
    jitter_ms: Annotated[float, typer.Option(help="provider latency spread")] = 10.0,
    slow_rate: Annotated[float, typer.Option(help="share of slow calls")] = 0.0,
    slow_ms: Annotated[float, typer.Option(help="latency of a slow call")] = 2_000.0,
    unavailable_rate: Annotated[float, typer.Option(help="share of attempts refused")] = 0.0,
    hang: Annotated[bool, typer.Option(help="the provider never answers")] = False,
    deadline_ms: Annotated[
        int, typer.Option(help="give up a payment this long after its reservation")
    ] = 240_000,
    call_timeout_ms: Annotated[int, typer.Option(help="a provider call times out")] = 2_000,
    max_in_flight: MaxInFlight = 256,
    breaker_failures: Annotated[int, typer.Option(help="failures that open the circuit")] = 5,
    breaker_open_ms: Annotated[int, typer.Option(help="open before a half-open probe")] = 5_000,
    reservation_timeout_ms: Annotated[
        int, typer.Option(help="enrichment's T: --deadline-ms must be below it")
    ] = 300_000,
    outcome_retention_ms: Annotated[
        int, typer.Option(help="forget an orderId's outcome after this (>= T, dedupe window)")
    ] = 2 * 24 * 3600 * 1000,
    log_level: LogLevel = "INFO",
) -> None:
    """Payments of RESERVED orders on the exactly-once runtime (simulated provider)."""
    from orderstream.services.payments.processor import PaymentsConfig
    from orderstream.services.payments.provider import ProviderRules
    from orderstream.services.payments.service import payments_config, run_payments

    for name, rate in (
        ("failure", failure_rate),
        ("slow", slow_rate),
        ("unavailable", unavailable_rate),
    ):
        if not 0.0 <= rate <= 1.0:
            raise typer.BadParameter(f"--{name}-rate must be between 0 and 1, got {rate}")
    _start_runtime_service("payments", log_level)
    settings = effective_settings()
    config = _instance_config(
        payments_config, settings, "payments", instance_id, http_port, state_dir,
        commit_interval_ms,
    )  # fmt: skip
    rules = ProviderRules(
        failure_rate, limit_cents, latency_ms, jitter_ms, slow_rate, slow_ms, unavailable_rate, hang
    )
    options = PaymentsConfig(
        payment_deadline_ms=deadline_ms,
        call_timeout_ms=call_timeout_ms,
        max_in_flight=max_in_flight,
        breaker_failures=breaker_failures,
        breaker_open_ms=breaker_open_ms,
        reservation_timeout_ms=reservation_timeout_ms,
        outcome_retention_ms=outcome_retention_ms,
    )
    run_payments(settings, config, options, rules)
