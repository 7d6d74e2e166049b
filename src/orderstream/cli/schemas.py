"""``orderstream schemas``: register the event contracts, and gate changes under FULL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orderstream.cli.common import console
from orderstream.cli.context import effective_settings
from orderstream.config import load_settings
from orderstream.errors import OrderstreamError, SerdeError
from orderstream.naming import prefixed
from orderstream.serde.catalog import schemas_dir, topic_schema_texts
from orderstream.serde.client import RegistryClient, registry_auth

app = typer.Typer(help="Register and check the Avro event contracts.", no_args_is_help=True)

GATE_LEVELS = ("FULL", "FULL_TRANSITIVE")

UrlOption = Annotated[
    str | None, typer.Option("--registry-url", help="default: ORDERSTREAM_REGISTRY_URL")
]
DirOption = Annotated[
    Path | None, typer.Option("--dir", help="folder of .avsc files (default: the package's)")
]


class IncompatibleSchemas(OrderstreamError):
    """At least one local schema breaks FULL compatibility with the registry."""


def _client(registry_url: str | None) -> RegistryClient:
    settings = effective_settings()
    auth = registry_auth(settings)
    return RegistryClient(
        registry_url or settings.registry_url, auth=auth, ca_file=settings.security.ca_file
    )


def _texts(folder: Path | None) -> dict[str, str]:
    texts = topic_schema_texts(folder or schemas_dir())
    if not texts:
        raise SerdeError(f"no .avsc file of TOPIC_SCHEMAS found in {folder or schemas_dir()}")
    # TopicNameStrategy: a pipeline copy's subjects are its topics', <prefix><topic>-value.
    prefix = load_settings().prefix
    return {prefixed(prefix, subject): text for subject, text in texts.items()}


@app.command()
def register(registry_url: UrlOption = None, folder: DirOption = None) -> None:
    """Set FULL on every <topic>-value subject, then register its schema there."""
    client = _client(registry_url)
    for subject, text in _texts(folder).items():
        client.set_level(subject, "FULL")
        schema_id = client.register(subject, text)
        console.print(f"{subject}: id {schema_id} (FULL)", highlight=False)


@app.command()
def check(registry_url: UrlOption = None, folder: DirOption = None) -> None:
    """Test the local .avsc files against the registry; exit 1 when one is incompatible."""
    client = _client(registry_url)
    failures = 0
    for subject, text in _texts(folder).items():
        latest = client.latest_version(subject)
        if latest is None:
            console.print(f"{subject}: new subject, nothing to check", highlight=False)
            continue
        level = client.subject_level(subject)
        if level not in GATE_LEVELS:
            failures += 1
            console.print(
                f"{subject}: level is {level or 'the global default'}, expected FULL "
                "(run `orderstream schemas register`)",
                highlight=False,
            )
            continue
        reasons = client.check_compatibility(subject, text)
        if reasons:
            failures += 1
            console.print(
                f"{subject}: INCOMPATIBLE under {level}:", highlight=False, soft_wrap=True
            )
            for reason in reasons:
                console.print(f"  - {reason}", highlight=False, markup=False, soft_wrap=True)
        else:
            console.print(f"{subject}: compatible with version {latest} ({level})", highlight=False)
    if failures:
        raise IncompatibleSchemas(f"{failures} subject(s) fail the FULL compatibility gate")
