"""A secured stack (the ``secure`` part of ``up``) hands each service its own principal by
password file, nothing inherited, and serves the registry, API and dashboard over HTTPS."""

from __future__ import annotations

from pathlib import Path

from orderstream.config import Settings
from orderstream.ops.stack import SERVICES, Stack
from orderstream.platform import secure


def _secure_stack(home: Path) -> Stack:
    return Stack(Settings(home=home), optional=("secure",))


def test_each_service_gets_its_principal_and_no_inherited_password(tmp_path: Path) -> None:
    stack = _secure_stack(tmp_path)
    parent = {
        "PATH": "/usr/bin",
        "ORDERSTREAM_SECURITY__PASSWORD": "from-the-callers-shell",
        "ORDERSTREAM_SECURITY__USERNAME": "someone",
        "ORDERSTREAM_REGISTRY_PASSWORD": "also-from-the-shell",
    }
    for spec in SERVICES:
        env = stack.service_env(spec, parent)
        assert env["ORDERSTREAM_SECURITY__USERNAME"] == spec.name
        assert "ORDERSTREAM_SECURITY__PASSWORD" not in env
        assert "ORDERSTREAM_REGISTRY_PASSWORD" not in env
        password_file = Path(env["ORDERSTREAM_SECURITY__PASSWORD_FILE"])
        assert password_file == tmp_path / "secrets" / f"{spec.name}.password"
        assert password_file.stat().st_mode & 0o077 == 0
        assert password_file.read_text().strip() not in "".join(env.values())
        assert env["PATH"] == "/usr/bin"
        assert env["ORDERSTREAM_REGISTRY_URL"] == "https://127.0.0.1:8081"


def test_the_registry_api_and_dashboard_serve_https_and_services_log_in(tmp_path: Path) -> None:
    stack = _secure_stack(tmp_path)
    env: dict[str, str] = {"ORDERSTREAM_REGISTRY_URL": "http://127.0.0.1:8081"}
    (part,) = stack.starting
    part.prepare(stack.settings, env, lambda _line: None)
    assert env["ORDERSTREAM_SECURITY__USERNAME"] == secure.ADMIN  # schemas register
    assert env["ORDERSTREAM_REGISTRY_USER"] == secure.ADMIN
    users = (tmp_path / "secrets" / secure.REGISTRY_USERS_FILE).read_text()
    roles = dict(line.split(":")[:2] for line in users.splitlines())
    assert roles["orders"] == roles["enrichment"] == roles["seed"] == "read-write"
    assert roles["audit"] == "read-only"
    assert "registry" not in roles and "nobody" not in roles
    specs = {s.name: stack.service(s) for s in stack.services}
    for name in ("registry", "orders", "analytics"):
        assert "--tls-cert" in specs[name].extra_args and specs[name].probe is not None
        assert specs[name].ready_url.startswith("https://127.0.0.1:")
    assert "--auth-file" in specs["registry"].extra_args
    assert specs["enrichment"].extra_args == () and specs["enrichment"].probe is None
    for name in ("orders", "enrichment", "analytics", "payments"):
        child = stack.service_env(specs[name], env)
        assert child["ORDERSTREAM_REGISTRY_USER"] == name
        password_file = Path(child["ORDERSTREAM_REGISTRY_PASSWORD_FILE"])
        assert password_file.stat().st_mode & 0o077 == 0
        assert password_file.read_text().strip() not in "".join(child.values())
        # the marker that finds the process stays the plaintext one: down works without --secure
        configured = next(s for s in stack.services if s.name == name)
        assert stack.supervised(specs[name]).marker == stack.supervised(configured).marker


def test_a_plaintext_stack_leaves_the_environment_alone(tmp_path: Path) -> None:
    parent = {"ORDERSTREAM_SECURITY__PROTOCOL": "SASL_SSL"}
    stack = Stack(Settings(home=tmp_path))
    assert stack.service_env(SERVICES[0], parent) == parent
    assert stack.service(SERVICES[0]) == SERVICES[0]
