"""Build Jaeger from the Go module proxy once, and cache the binary like the Kafka jars.

``go install ...@v1.76.0`` refuses Jaeger (its go.mod has ``replace`` directives), so the module's
source is downloaded with ``go mod download -json``, copied somewhere writable and built there.
The build costs minutes and gigabytes of Go caches on two cores: it runs only when
``<cache>/jaeger-<version>/jaeger`` is missing. ``GOPATH``/``GOCACHE`` stay Go's own (under the
user's home), never in the repository.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from orderstream.errors import PlatformError, PrerequisiteMissing

logger = logging.getLogger(__name__)

JAEGER_VERSION = "1.76.0"
JAEGER_MODULE = "github.com/jaegertracing/jaeger"


def jaeger_binary(cache_dir: Path) -> Path:
    return cache_dir / f"jaeger-{JAEGER_VERSION}" / "jaeger"


def install_jaeger(cache_dir: Path) -> tuple[Path, float | None]:
    """The cached binary and the build's seconds (None when it was already built)."""
    binary = jaeger_binary(cache_dir)
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary, None
    go = shutil.which("go")
    if go is None:
        raise PrerequisiteMissing(
            "Go was not found on PATH; Jaeger is built from source with Go 1.24 or newer"
        )
    started = time.monotonic()
    source = _download_source(go)
    with tempfile.TemporaryDirectory(prefix="jaeger-build-") as tmp:
        work = Path(tmp) / "src"
        # The module cache is read-only; the build writes nothing there but needs a plain copy.
        shutil.copytree(source, work, symlinks=True)
        for path in work.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)
        staging = binary.with_suffix(".new")
        binary.parent.mkdir(parents=True, exist_ok=True)
        _run([go, "build", "-trimpath", "-o", str(staging), "./cmd/jaeger"], cwd=work)
        staging.replace(binary)
    return binary, time.monotonic() - started


def _download_source(go: str) -> Path:
    out = _run([go, "mod", "download", "-json", f"{JAEGER_MODULE}@v{JAEGER_VERSION}"])
    info = json.loads(out)
    if "Dir" not in info:
        raise PlatformError(f"go mod download gave no source directory: {info.get('Error')}")
    return Path(info["Dir"])


def _run(cmd: list[str], cwd: Path | None = None) -> str:
    logger.info("running %s", " ".join(cmd))
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise PlatformError(
            f"{' '.join(cmd[:3])} failed ({done.returncode}); check the network to the Go "
            f"module proxy and free disk space:\n{done.stderr[-2000:]}"
        )
    return done.stdout
