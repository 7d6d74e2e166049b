"""``orderstream security``: what a user needs to connect a client to the secured stack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orderstream.cli.bench_output import JsonOut, report, table
from orderstream.cli.common import (
    BenchRecords,
    BenchRounds,
    JsonFlag,
    console,
    print_json,
    print_table,
)
from orderstream.cli.context import cluster_home
from orderstream.config import load_settings
from orderstream.errors import PlatformError
from orderstream.platform import secure
from orderstream.platform.acls import load_principals
from orderstream.platform.certs import LocalCA
from orderstream.platform.cluster import load_spec
from orderstream.platform.topology import default_topology_path

app = typer.Typer(help="Connection details of the secured stack (kafka up --secure).")


def _https(url: str) -> str:
    """The secured stack serves the registry over HTTPS on the same host and port."""
    return "https://" + url.removeprefix("http://") if url.startswith("http://") else url


def connection_info() -> dict[str, object]:
    """The one object ``security show --json`` prints (an interface: keys never change)."""
    settings = load_settings()
    spec = load_spec(cluster_home(settings))
    if spec is None or spec.secure_home is None:
        raise PlatformError(
            "no secured local cluster; start one with 'orderstream up --secure' "
            "(or 'orderstream kafka up --secure')"
        )
    home = Path(spec.secure_home)
    names = [secure.ADMIN, *load_principals(default_topology_path())]
    return {
        "bootstrap_servers": spec.bootstrap,
        "security_protocol": secure.SECURITY_PROTOCOL,
        "sasl_mechanism": secure.SASL_MECHANISM,
        "ca_file": str(LocalCA.load_or_create(home).ca_file),
        "registry_url": _https(settings.registry_url),
        "principals": {
            name: {"username": name, "password_file": str(secure.password_file(home, name))}
            for name in names
        },
    }


@app.command()
def show(
    as_json: JsonFlag = False,
) -> None:
    """Bootstrap servers, the CA file, the registry URL and each principal's password file."""
    info = connection_info()
    if as_json:
        print_json(info)
        return
    for key in ("bootstrap_servers", "security_protocol", "sasl_mechanism", "ca_file"):
        console.print(f"{key}: {info[key]}", highlight=False)
    console.print(f"registry_url: {info['registry_url']}", highlight=False)
    principals = info["principals"]
    assert isinstance(principals, dict)
    print_table(
        "principals (passwords are in the files; never pass them on a command line)",
        ["principal", "username", "password file"],
        [(n, p["username"], p["password_file"]) for n, p in principals.items()],
    )


RuntimeRecords = Annotated[
    int,
    typer.Option(
        min=0,
        help="also bench runtime's EOS scenarios (stateless, stateful) on this many records, "
        "secured as a service principal through the authorizer; 0 skips them",
    ),
]


@app.command()
def bench(
    records: BenchRecords = 200_000,
    rounds: BenchRounds = 2,
    runtime_records: RuntimeRecords = 50_000,
    as_json: JsonFlag = False,
    json_out: JsonOut = None,
) -> None:
    """What SASL_SSL costs: plaintext vs secured 1-node clusters, same run, records/s."""
    from orderstream.bench import secure as secure_bench

    with (
        console.status("starting a plaintext and a secured cluster...") as status,
        secure_bench.bench_clusters(load_settings().cache_dir) as (plain, secured),
    ):
        figures = secure_bench.run(plain, secured, records, rounds, status.update, runtime_records)
    scenarios = [
        {"scenario": f.scenario, "plaintext_per_s": round(f.plaintext),
         "secured_per_s": round(f.secured), "ratio": round(f.ratio, 3)}
        for f in figures
    ]  # fmt: skip
    show = table(
        f"SASL_SSL/SCRAM-SHA-512 vs PLAINTEXT, {records:,} records of 100 B, best of {rounds}",
        ["scenario", "plaintext rec/s", "secured rec/s", "secured / plaintext"],
        [
            (f.scenario, f"{f.plaintext:,.0f}", f"{f.secured:,.0f}", f"{f.ratio:.2f}")
            for f in figures
        ],
    )
    report("secure", {"scenarios": scenarios}, show, json_flag=as_json, json_out=json_out)
