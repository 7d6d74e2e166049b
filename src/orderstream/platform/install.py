"""Resolve Apache Kafka from Maven Central into a local cache, with Maven.

The classpath is the runtime closure of ``pom.xml`` beside this module (the broker, kafka-tools
and a log4j2 backend bound through SLF4J 1.x). A marker file with the POM's digest makes the
install idempotent: a second run with the same POM does nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from orderstream.errors import PlatformError, PrerequisiteMissing

logger = logging.getLogger(__name__)

_MARKER = ".installed"
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


def pom_text() -> str:
    return resources.files("orderstream.platform").joinpath("pom.xml").read_text(encoding="utf-8")


def kafka_version() -> str:
    """The pinned Kafka version, read from the POM so that it lives in one place."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom_text())
    if match is None:  # pragma: no cover - the POM ships with the package
        raise PlatformError("pom.xml has no <kafka.version> property")
    return match.group(1)


@dataclass(frozen=True)
class KafkaDistribution:
    """An installed Kafka classpath."""

    version: str
    root: Path

    @property
    def lib(self) -> Path:
        return self.root / "lib"

    @property
    def classpath(self) -> str:
        # One argument: the JVM expands 'lib/*' itself.
        return str(self.lib / "*")

    def is_installed(self) -> bool:
        marker = self.root / _MARKER
        return marker.is_file() and marker.read_text() == _pom_digest()


def _pom_digest() -> str:
    return hashlib.sha256(pom_text().encode()).hexdigest()


def java_major_version(java: str = "java") -> int:
    """The major version of ``java``, or PrerequisiteMissing when it is absent."""
    exe = shutil.which(java)
    if exe is None:
        raise PrerequisiteMissing(
            "Java was not found on PATH; install a JDK 17 or newer "
            "(Debian: apt-get install openjdk-17-jdk-headless)"
        )
    out = subprocess.run([exe, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if match is None:
        raise PrerequisiteMissing(f"cannot tell the Java version from: {out.strip()[:200]}")
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def require_java() -> None:
    major = java_major_version()
    if major < 17:
        raise PrerequisiteMissing(
            f"Java {major} is too old: Kafka 4 needs Java 17 or newer; install openjdk-17"
        )


def require_maven() -> str:
    exe = shutil.which("mvn")
    if exe is None:
        raise PrerequisiteMissing(
            "Maven (mvn) was not found on PATH; it fetches Kafka from Maven Central "
            "(Debian: apt-get install maven)"
        )
    return exe


def distribution(cache_dir: Path) -> KafkaDistribution:
    version = kafka_version()
    return KafkaDistribution(version=version, root=cache_dir / f"kafka-{version}")


def install_kafka(cache_dir: Path) -> tuple[KafkaDistribution, bool]:
    """Install Kafka into ``cache_dir``; returns the distribution and whether work was done."""
    require_java()
    dist = distribution(cache_dir)
    if dist.is_installed():
        return dist, False
    mvn = require_maven()
    dist.root.mkdir(parents=True, exist_ok=True)
    pom = dist.root / "pom.xml"
    pom.write_text(pom_text(), encoding="utf-8")
    staging = dist.root / "lib.new"
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        f"{_DEPENDENCY_PLUGIN}:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    logger.info("resolving kafka from maven central", extra={"version": dist.version})
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise PlatformError(f"maven could not resolve Kafka {dist.version}:\n{tail}")
    shutil.rmtree(dist.lib, ignore_errors=True)
    staging.rename(dist.lib)
    (dist.root / _MARKER).write_text(_pom_digest())
    return dist, True
