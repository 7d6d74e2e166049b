"""A secured stack hands each service its own principal by password file, nothing inherited."""

from __future__ import annotations

from pathlib import Path

from orderstream.config import Settings
from orderstream.ops.stack import SERVICES, Stack


def test_each_service_gets_its_principal_and_no_inherited_password(tmp_path: Path) -> None:
    stack = Stack(Settings(home=tmp_path), secure=True)
    parent = {
        "PATH": "/usr/bin",
        "ORDERSTREAM_SECURITY__PASSWORD": "from-the-callers-shell",
        "ORDERSTREAM_SECURITY__USERNAME": "someone",
    }
    for spec in SERVICES:
        env = stack.service_env(spec, parent)
        assert env["ORDERSTREAM_SECURITY__USERNAME"] == spec.name
        assert "ORDERSTREAM_SECURITY__PASSWORD" not in env
        password_file = Path(env["ORDERSTREAM_SECURITY__PASSWORD_FILE"])
        assert password_file == tmp_path / "secrets" / f"{spec.name}.password"
        assert password_file.stat().st_mode & 0o077 == 0
        assert password_file.read_text().strip() not in "".join(env.values())
        assert env["PATH"] == "/usr/bin"


def test_a_plaintext_stack_leaves_the_environment_alone(tmp_path: Path) -> None:
    parent = {"ORDERSTREAM_SECURITY__PROTOCOL": "SASL_SSL"}
    assert Stack(Settings(home=tmp_path)).service_env(SERVICES[0], parent) == parent
