"""``orderstream acls``: principals and ACLs as code, from topology.toml's [principals]."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from confluent_kafka.admin import AdminClient

from orderstream.cli.common import JsonFlag, console, print_json, print_table
from orderstream.cli.context import effective_settings
from orderstream.config import Role, kafka_config, load_settings
from orderstream.platform.acls import (
    AclPlan,
    Principal,
    apply_acls,
    declared_grants,
    load_principals,
    matrix,
)
from orderstream.platform.acls_prefix import for_prefix, plan_acls_for_prefix
from orderstream.platform.topology import default_topology_path

app = typer.Typer(
    help="Grant each principal what topology.toml declares, and nothing else.",
    no_args_is_help=True,
)

FileOption = Annotated[
    Path | None, typer.Option(help="topology file (default: the packaged topology.toml)")
]


def _principals(file: Path | None) -> dict[str, Principal]:
    """The manifest's principals, their grants on this pipeline copy (ORDERSTREAM_PREFIX)."""
    return for_prefix(load_principals(file or default_topology_path()), load_settings().prefix)


def _plan(admin: AdminClient, file: Path | None) -> AclPlan:
    """The plan of this pipeline copy; other copies' grants are neither kept nor revoked."""
    principals = load_principals(file or default_topology_path())
    return plan_acls_for_prefix(admin, principals, load_settings().prefix)


def _admin() -> AdminClient:
    return AdminClient(kafka_config(Role.ADMIN, "acls", settings=effective_settings()))


def _print_plan(plan: AclPlan) -> None:
    for line in plan.lines():
        console.print(line, highlight=False, markup=False)
    if plan.empty:
        console.print("no changes: the cluster's ACLs match the manifest")


@app.command()
def plan(file: FileOption = None) -> None:
    """Print the grants to create and revoke; change nothing."""
    _print_plan(_plan(_admin(), file))


@app.command()
def apply(
    file: FileOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print the plan, change nothing")
    ] = False,
) -> None:
    """Print the plan, then create missing grants and revoke undeclared ones (idempotent)."""
    admin = _admin()
    acl_plan = _plan(admin, file)
    _print_plan(acl_plan)
    if acl_plan.empty:
        return
    if dry_run:
        console.print("dry run: nothing applied")
        return
    apply_acls(admin, acl_plan)
    console.print(f"applied: {len(acl_plan.create)} granted, {len(acl_plan.revoke)} revoked")


@app.command()
def show(
    file: FileOption = None,
    as_json: JsonFlag = False,
) -> None:
    """The security manifest: principal x resource x operation, as declared."""
    principals = _principals(file)
    if as_json:
        print_json(
            {
                "principals": {
                    name: {
                        "description": p.description,
                        "grants": [g.as_json() for g in sorted(p.grants)],
                    }
                    for name, p in sorted(principals.items())
                },
                "grants": len(declared_grants(principals)),
            }
        )
        return
    print_table(
        f"security manifest ({len(principals)} principals; READ/WRITE imply DESCRIBE; "
        "* = prefix)",
        ["principal", "resource", "operations"],
        matrix(principals)
        + [(n, "(no grants)", "") for n, p in principals.items() if not p.grants],
    )
