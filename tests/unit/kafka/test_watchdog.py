"""The watchdog of librdkafka calls that block past their own timeout (librdkafka 5456/5511)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from orderstream.kafka import watchdog
from orderstream.kafka.watchdog import EXIT_HUNG, CallWatchdog


def test_a_call_within_its_timeout_and_margin_is_not_hung() -> None:
    dog = CallWatchdog()
    with dog.guard("send_offsets_to_transaction", 8.0):
        assert dog.hung() == []
    assert dog.hung() == []


def test_a_call_past_its_timeout_and_margin_is_hung() -> None:
    dog = CallWatchdog()
    original = watchdog.HANG_MARGIN_S
    watchdog.HANG_MARGIN_S = 0.0
    try:
        with dog.guard("commit_transaction", 0.0):
            deadline = time.monotonic() + 5
            while not dog.hung() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert dog.hung() == ["commit_transaction"]
    finally:
        watchdog.HANG_MARGIN_S = original
    assert dog.hung() == []


def test_a_service_that_asked_for_it_exits_for_its_supervisor_and_says_why() -> None:
    # The child stands in for a service stuck inside send_offsets_to_transaction.
    script = textwrap.dedent(
        """
        import logging, time
        from orderstream.kafka import watchdog
        logging.basicConfig(level=logging.INFO)
        watchdog.HANG_MARGIN_S = 0.0
        watchdog.WATCHDOG.exit_when_hung()
        with watchdog.WATCHDOG.guard("send_offsets_to_transaction", 0.2):
            time.sleep(60)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == EXIT_HUNG
    assert "send_offsets_to_transaction is stuck inside librdkafka" in done.stderr
    assert "supervisor restarts this service" in done.stderr
