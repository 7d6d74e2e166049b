"""The secured local cluster: SASL_SSL/SCRAM-SHA-512 for clients and brokers, mTLS between
controllers, StandardAuthorizer with deny-by-default.

A cluster is secured when its spec names ``secure_home``: the ``$ORDERSTREAM_HOME`` whose
``secrets/`` holds the CA and node certificates (``platform.certs``) and one password file per
principal (``<name>.password``, 0600). Passwords never reach a command line:

- the node's JAAS line (the admin user it uses between brokers) is in ``node.properties``, 0600;
- the admin SCRAM user is written at storage format through a Java ``@argfile`` (0600, deleted
  right after), since ``kafka-storage format --add-scram`` takes it as an argument;
- service users are created afterwards with the AdminClient (``create_users``).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from orderstream.config import SecuritySettings, Settings
from orderstream.errors import ConfigError, PlatformError
from orderstream.platform.certs import LocalCA, node_cert, secrets_dir, write_private

if TYPE_CHECKING:
    from orderstream.platform.nodes import ClusterSpec, NodeSpec

logger = logging.getLogger(__name__)

ADMIN = "admin"
SECURITY_PROTOCOL: Final[Literal["SASL_SSL"]] = "SASL_SSL"
SASL_MECHANISM: Final[Literal["SCRAM-SHA-512"]] = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 8192
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
_SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"


def password_file(home: Path, principal: str) -> Path:
    return secrets_dir(home) / f"{principal}.password"


def ensure_password(home: Path, principal: str) -> Path:
    """The principal's password file, created with a random password the first time."""
    path = password_file(home, principal)
    if not path.is_file():
        # URL-safe: no character that SCRAM's name=...,password=... syntax or JAAS quoting
        # would need to escape.
        write_private(path, (secrets.token_urlsafe(24) + "\n").encode())
    return path


def read_password(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read password file {path}: {exc.strerror}") from exc


def _home(spec: ClusterSpec) -> Path:
    if spec.secure_home is None:
        raise PlatformError("this cluster is not secured (started without --secure)")
    return Path(spec.secure_home)


def node_principal(node_id: int) -> str:
    """The principal a node presents on the controller listener (its certificate's DN)."""
    return f"User:CN=node-{node_id}"


def node_properties(spec: ClusterSpec, node: NodeSpec) -> dict[str, str]:
    """The settings that secure one node, on top of the plaintext ones."""
    home = _home(spec)
    ca = LocalCA.load_or_create(home)
    cert = node_cert(ca, node.node_id)
    admin_password = read_password(ensure_password(home, ADMIN))
    super_users = ";".join([f"User:{ADMIN}", *(node_principal(n.node_id) for n in spec.nodes)])
    advertised = node.advertised_port or node.broker_port
    return {
        "listeners": (
            f"SASL_SSL://127.0.0.1:{node.broker_port},CONTROLLER://127.0.0.1:{node.controller_port}"
        ),
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{advertised}",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.enabled.mechanisms": SASL_MECHANISM,
        "sasl.mechanism.inter.broker.protocol": SASL_MECHANISM,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
            f'{_SCRAM_LOGIN} required username="{ADMIN}" password="{admin_password}";'
        ),
        # SCRAM cannot serve the controllers (its credentials live in the metadata log they
        # must read first): nodes prove themselves to each other with their certificates.
        "listener.name.controller.ssl.client.auth": "required",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(cert.keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(cert.ca),
        "ssl.endpoint.identification.algorithm": "https",
        "authorizer.class.name": AUTHORIZER,
        "super.users": super_users,
        "allow.everyone.if.no.acl.found": "false",
    }


def _argfile_line(arg: str) -> str:
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextlib.contextmanager
def format_command(spec: ClusterSpec, node: NodeSpec, cmd: list[str]) -> Iterator[list[str]]:
    """``cmd`` (a ``java ... StorageTool format`` line) for this node; a secured cluster's gets
    the admin SCRAM user, passed through an argfile so that no argv shows the password."""
    if spec.secure_home is None:
        yield cmd
        return
    password = read_password(ensure_password(_home(spec), ADMIN))
    scram = f"{SASL_MECHANISM}=[name={ADMIN},password={password}]"
    argfile = spec.node_dir(node) / "format.args"
    lines = [_argfile_line(a) for a in (*cmd[1:], "--add-scram", scram)]
    write_private(argfile, ("\n".join(lines) + "\n").encode())
    try:
        yield [cmd[0], f"@{argfile}"]
    finally:
        argfile.unlink(missing_ok=True)


def client_config(home: Path, principal: str = ADMIN) -> dict[str, str]:
    """librdkafka settings for ``principal`` on the secured cluster of ``home``."""
    return {
        "security.protocol": SECURITY_PROTOCOL,
        "sasl.mechanism": SASL_MECHANISM,
        "sasl.username": principal,
        "sasl.password": read_password(password_file(home, principal)),
        "ssl.ca.location": str(LocalCA.load_or_create(home).ca_file),
    }


def cluster_client_config(spec: ClusterSpec) -> dict[str, str]:
    """The admin's client settings for a secured cluster; none for a plaintext one."""
    return client_config(_home(spec)) if spec.secure_home is not None else {}


def create_users(
    bootstrap: str, home: Path, principals: Iterable[str], timeout: float = 30.0
) -> list[str]:
    """Create (or re-key to their files) the SCRAM users of ``principals``; returns them."""
    names = [p for p in principals if p != ADMIN]
    if not names:
        return []
    upserts: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(
            name,
            ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS),
            read_password(ensure_password(home, name)).encode(),
        )
        for name in names
    ]
    admin = AdminClient({"bootstrap.servers": bootstrap, **client_config(home), "log_level": 3})
    futures = admin.alter_user_scram_credentials(upserts, request_timeout=timeout)
    for name, future in futures.items():
        try:
            future.result(timeout + 5)
        except KafkaException as exc:
            raise PlatformError(f"cannot create SCRAM user {name}: {exc}") from exc
    logger.info("SCRAM users ready: %s", ", ".join(names))
    return names


def principal_security(home: Path, principal: str) -> SecuritySettings:
    """``settings.security`` for ``principal`` on the secured cluster of ``home``: the password
    by file path, so that it never travels in the environment or argv."""
    return SecuritySettings(
        protocol=SECURITY_PROTOCOL,
        sasl_mechanism=SASL_MECHANISM,
        username=principal,
        password_file=ensure_password(home, principal),
        ca_file=LocalCA.load_or_create(home).ca_file,
    )


def provision(
    spec: ClusterSpec, topology: Path | None = None, *, prefix: str = ""
) -> ProvisionReport:
    """Create every declared principal's SCRAM user and apply the declared ACLs, on the names
    of the pipeline copy ``prefix`` (``Settings.prefix``; other copies' grants are left alone)."""
    from orderstream.platform import acls
    from orderstream.platform.acls_prefix import plan_acls_for_prefix
    from orderstream.platform.topology import default_topology_path

    home = _home(spec)
    principals = acls.load_principals(topology or default_topology_path())
    users = create_users(spec.bootstrap, home, principals)
    admin = AdminClient(
        {"bootstrap.servers": spec.bootstrap, **client_config(home), "log_level": 3}
    )
    plan = plan_acls_for_prefix(admin, principals, prefix)
    acls.apply_acls(admin, plan)
    return ProvisionReport(tuple(users), len(plan.create), len(plan.revoke))


@dataclass(frozen=True)
class ProvisionReport:
    users: tuple[str, ...]
    granted: int
    revoked: int


def security_env(home: Path, principal: str) -> dict[str, str]:
    """``ORDERSTREAM_SECURITY__*`` variables that make a child process ``principal``: its
    password by file path, never the password itself."""
    sec = principal_security(home, principal)
    return {
        "ORDERSTREAM_SECURITY__PROTOCOL": sec.protocol,
        "ORDERSTREAM_SECURITY__SASL_MECHANISM": sec.sasl_mechanism,
        "ORDERSTREAM_SECURITY__USERNAME": principal,
        "ORDERSTREAM_SECURITY__PASSWORD_FILE": str(sec.password_file),
        "ORDERSTREAM_SECURITY__CA_FILE": str(sec.ca_file),
    }


# -- the registry's users (HTTPS + basic auth on the secured stack) ----------------------------

REGISTRY_USERS_FILE = "registry-users"


def registry_password_file(home: Path, principal: str) -> Path:
    """The principal's registry password: its own file, not its Kafka password."""
    return secrets_dir(home) / f"registry-{principal}.password"


def registry_role(principal: str, grants: Iterable[tuple[str, str]]) -> str | None:
    """``read-write`` for a principal that writes a topic (its serde registers schemas),
    ``read-only`` for one that only reads, None for one without topics (and the registry
    itself, which forwards its clients' credentials instead of using its own)."""
    if principal == "registry":
        return None
    kinds = {(rtype, op) for rtype, op in grants}
    if principal == ADMIN or ("TOPIC", "WRITE") in kinds:
        return "read-write"
    return "read-only" if ("TOPIC", "READ") in kinds else None


def registry_roles(topology: Path | None = None) -> dict[str, str]:
    """Every registry user of the secured stack and its role, derived from ``[principals]``."""
    from orderstream.platform import acls
    from orderstream.platform.topology import default_topology_path

    principals = acls.load_principals(topology or default_topology_path())
    roles = {ADMIN: "read-write"}
    for name, principal in principals.items():
        role = registry_role(name, ((g.resource_type, g.operation) for g in principal.grants))
        if role is not None:
            roles[name] = role
    return roles


def write_registry_users(home: Path, roles: dict[str, str]) -> Path:
    """The registry's auth file (0600): one salted scrypt line per user, each password from
    (or new in) its own 0600 file."""
    from orderstream.registry.auth import RoleName, user_line

    lines = []
    for name, role in sorted(roles.items()):
        path = registry_password_file(home, name)
        if not path.is_file():
            write_private(path, (secrets.token_urlsafe(24) + "\n").encode())
        lines.append(user_line(name, RoleName(role), read_password(path)))
    auth_file = secrets_dir(home) / REGISTRY_USERS_FILE
    write_private(auth_file, ("\n".join(lines) + "\n").encode())
    return auth_file


def registry_env(home: Path, principal: str, url: str) -> dict[str, str]:
    """``ORDERSTREAM_REGISTRY_*`` for a child that talks to the secured registry as
    ``principal``: the https URL and the password by file path."""
    env = {"ORDERSTREAM_REGISTRY_URL": https_url(url)}
    if registry_password_file(home, principal).is_file():
        env["ORDERSTREAM_REGISTRY_USER"] = principal
        env["ORDERSTREAM_REGISTRY_PASSWORD_FILE"] = str(registry_password_file(home, principal))
    return env


def https_url(url: str) -> str:
    """The secured stack serves its HTTP endpoints over HTTPS on the same host and port."""
    return "https://" + url.removeprefix("http://") if url.startswith("http://") else url


def registry_settings(home: Path, principal: str, settings: Settings) -> dict[str, object]:
    """Settings updates for a client of the secured stack's registry as ``principal``: an
    ``http://`` URL that was not configured becomes ``https://``, the user its password file."""
    update: dict[str, object] = {}
    if "registry_url" not in settings.model_fields_set:
        update["registry_url"] = https_url(settings.registry_url)
    path = registry_password_file(home, principal)
    if path.is_file():
        update["registry_user"] = principal
        update["registry_password_file"] = path
    return update


# -- the orders API's view principal ---------------------------------------------------------

ORDERS_VIEW = "orders-view"


def view_settings(settings: Settings) -> Settings:
    """The settings of the orders API's outcome view: principal ``orders-view``, whose password
    file lies next to the service's own (the secured stack's ``secrets/``). Without one (a
    plaintext cluster, or one whose operator gave the API a single identity) the view keeps the
    service's own principal."""
    security = settings.security
    if security.password_file is None or not security.protocol.startswith("SASL"):
        return settings
    view_file = security.password_file.parent / f"{ORDERS_VIEW}.password"
    if not view_file.is_file():
        return settings
    view = security.model_copy(update={"username": ORDERS_VIEW, "password_file": view_file})
    return settings.model_copy(update={"security": view})
