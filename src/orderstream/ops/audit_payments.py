"""The audit's payment invariants (issue 13), each a check of its own in ``audit --json``.

6a. every StockReleased is of a RESERVED order, with its quantity, once at most
    (with check 2: restocks - RESERVED + released = the changelog's stock, never below 0);
6b. every RESERVED order enriched more than the reservation timeout (plus a grace for the
    punctuation and the commit) ago ends PAID or released;
6c. no order is both PAID and released, and none has more than one payment outcome;
6d. no payment outcome exists for a REJECTED order (or for an order never enriched).
"""

from __future__ import annotations

import time

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException
from confluent_kafka.admin import AdminClient

from orderstream.config import Role, Settings, kafka_config
from orderstream.ops.audit import AuditSnapshot, Check, CheckResult
from orderstream.services.payments.processor import APP_ID as PAYMENTS_GROUP

# The release runs at the first punctuation past the deadline, then commits: seconds, not more.
GRACE_MS = 15_000


def _examples(ids: list[str]) -> str:
    return f" (e.g. {', '.join(sorted(ids)[:3])})" if ids else ""


def check_releases_match_reservations(snap: AuditSnapshot) -> CheckResult:
    wrong = []
    for order_id, releases in snap.releases.items():
        enriched = snap.enriched.get(order_id)
        if (
            len(releases) > 1
            or enriched is None
            or enriched.status != "RESERVED"
            or releases[0].quantity != enriched.quantity
            or releases[0].product_id != enriched.product_id
        ):
            wrong.append(order_id)
    reasons: dict[str, int] = {}
    for releases in snap.releases.values():
        for r in releases:
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
    detail = (
        f"{len(snap.releases)} orders released, {sum(snap.released.values())} units "
        f"({', '.join(f'{k} {v}' for k, v in sorted(reasons.items())) or 'none'}); "
        f"{len(wrong)} not matching one reservation" + _examples(wrong)
    )
    return CheckResult("6a. each release gives back one reservation", not wrong, detail)


def payments_deployed(settings: Settings) -> bool:
    """Has the payments group ever committed? A pipeline run without payments (enrichment
    alone, as most fault tests run it) has no payment outcomes to wait for."""
    admin = AdminClient(kafka_config(Role.ADMIN, "audit", settings=settings))
    group = settings.named(PAYMENTS_GROUP)
    try:
        futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
        answer = futures[group].result(timeout=15)
    except KafkaException:
        return False  # GROUP_ID_NOT_FOUND and the like: never ran
    return any(tp.offset >= 0 for tp in answer.topic_partitions or ())


def check_reservations_end(snap: AuditSnapshot) -> CheckResult:
    if snap.payments_deployed is None:
        snap.payments_deployed = payments_deployed(snap.settings) or None  # re-ask until seen
    if not snap.payments_deployed:
        return CheckResult(
            "6b. every reservation ends PAID or released",
            True,
            "payments has never run against this cluster (no committed offsets of group "
            f"{snap.settings.named(PAYMENTS_GROUP)!r}): reservations are not expected to end",
        )
    cutoff = int(time.time() * 1000) - snap.reservation_timeout_ms - GRACE_MS
    reserved = [e for e in snap.enriched.values() if e.status == "RESERVED"]
    due = [e for e in reserved if e.enriched_at <= cutoff]
    open_ = [
        e.order_id for e in due if e.order_id not in snap.paid and e.order_id not in snap.releases
    ]
    paid = sum(1 for e in reserved if e.order_id in snap.paid)
    released = sum(1 for e in reserved if e.order_id in snap.releases)
    detail = (
        f"{len(reserved)} reserved: {paid} paid, {released} released, "
        f"{len(reserved) - paid - released} open; {len(due)} past the timeout of "
        f"{snap.reservation_timeout_ms} ms, {len(open_)} of them neither paid nor released"
        + _examples(open_)
    )
    return CheckResult("6b. every reservation ends PAID or released", not open_, detail)


def check_paid_or_released(snap: AuditSnapshot) -> CheckResult:
    both = [o for o in snap.paid if o in snap.releases]
    twice = [
        o
        for o in set(snap.paid) | set(snap.failed)
        if len(snap.paid.get(o, ())) + len(snap.failed.get(o, ())) > 1
    ]
    detail = (
        f"{len(snap.paid)} paid, {len(snap.failed)} failed; {len(both)} both paid and released, "
        f"{len(twice)} with more than one payment outcome" + _examples(both + twice)
    )
    return CheckResult("6c. no order both PAID and released", not (both or twice), detail)


def check_no_payment_without_reservation(snap: AuditSnapshot) -> CheckResult:
    outcomes = set(snap.paid) | set(snap.failed)
    wrong = [o for o in outcomes if (e := snap.enriched.get(o)) is None or e.status != "RESERVED"]
    detail = f"{len(outcomes)} payment outcomes; {len(wrong)} for an order not RESERVED"
    return CheckResult("6d. no payment for a REJECTED order", not wrong, detail + _examples(wrong))


PAYMENT_CHECKS: list[Check] = [
    check_releases_match_reservations,
    check_reservations_end,
    check_paid_or_released,
    check_no_payment_without_reservation,
]
