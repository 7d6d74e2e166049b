"""``up --secure``: the secured stack as an optional part of ``orderstream up``.

- the local cluster is SASL_SSL/SCRAM with deny-by-default ACLs (``platform/secure.py``); once
  it is up, every declared principal's SCRAM user and grants are provisioned;
- ``up``'s own clients (topology, ``schemas register``) are the admin;
- the registry serves HTTPS with basic auth (users and roles derived from ``[principals]``),
  the orders API and the dashboard serve HTTPS, all signed by the local CA;
- each service runs as the principal of its name, on Kafka and on the registry, every password
  by file path (``$ORDERSTREAM_HOME/secrets``, 0600), never in argv or the environment.
"""

from __future__ import annotations

from dataclasses import replace

from orderstream.config import Settings
from orderstream.ops.stack_parts import PartDefaults, Probe, Report, ServiceSpec
from orderstream.platform import secure
from orderstream.platform.certs import LocalCA, secrets_dir, server_cert
from orderstream.platform.nodes import ClusterSpec

# The services that serve HTTPS, and the certificate each presents (enrichment's and payments'
# runtime port stays plain HTTP on 127.0.0.1: metrics and probes only, see the README).
_SERVER_CERTS = {"registry": "registry", "orders": "orders-api", "analytics": "dashboard"}


class SecurePart(PartDefaults):
    name = "secure"

    def __init__(self, settings: Settings) -> None:
        self.home = settings.home
        self.prefix = settings.prefix
        self.registry_url = secure.https_url(settings.registry_url)

    def cluster(self, spec: ClusterSpec) -> ClusterSpec:
        return replace(spec, secure_home=str(self.home))

    def kafka_ready(self, spec: ClusterSpec, report: Report) -> None:
        done = secure.provision(spec, prefix=self.prefix)
        report(
            f"kafka: secured (SASL_SSL/SCRAM-SHA-512); {len(done.users)} users, "
            f"ACLs +{done.granted} -{done.revoked}"
        )

    def client_settings(self, settings: Settings) -> Settings:
        security = secure.principal_security(self.home, secure.ADMIN)
        return settings.model_copy(update={"security": security})

    def prepare(self, settings: Settings, env: dict[str, str], report: Report) -> None:
        """Certificates and the registry's users; every child is the admin unless
        ``service_env`` makes it its own principal (``schemas register`` stays the admin)."""
        for name in _SERVER_CERTS.values():
            server_cert(self.home, name)
        roles = secure.registry_roles()
        secure.write_registry_users(self.home, roles)
        report(f"registry: HTTPS with basic auth, {len(roles)} users ({_roles_line(roles)})")
        admin = self._principal_env(secure.ADMIN, env)
        env.clear()
        env.update(admin)

    def service(self, spec: ServiceSpec) -> ServiceSpec:
        cert_name = _SERVER_CERTS.get(spec.name)
        if cert_name is None:
            return spec
        ca = LocalCA.load_or_create(self.home)
        files = ca.files(cert_name)
        extra: tuple[str, ...] = ("--tls-cert", str(files.cert), "--tls-key", str(files.key))
        probe = Probe(ca.ca_file)
        if spec.name == "registry":
            auth_file = secrets_dir(self.home) / secure.REGISTRY_USERS_FILE
            extra = (*extra, "--auth-file", str(auth_file))
            admin_password = secure.registry_password_file(self.home, secure.ADMIN)
            probe = Probe(ca.ca_file, secure.ADMIN, admin_password)
        return replace(spec, extra_args=(*spec.extra_args, *extra), probe=probe)

    def service_env(self, spec: ServiceSpec, env: dict[str, str]) -> dict[str, str]:
        return self._principal_env(spec.name, env)

    def _principal_env(self, principal: str, env: dict[str, str]) -> dict[str, str]:
        """``env`` as ``principal``: nothing inherited of another identity, passwords by path."""
        mine = {
            k: v
            for k, v in env.items()
            if not k.upper().startswith(("ORDERSTREAM_SECURITY__", "ORDERSTREAM_REGISTRY_"))
        }
        return {
            **mine,
            **secure.security_env(self.home, principal),
            **secure.registry_env(self.home, principal, self.registry_url),
        }


def _roles_line(roles: dict[str, str]) -> str:
    return ", ".join(f"{name} {role}" for name, role in sorted(roles.items()))
