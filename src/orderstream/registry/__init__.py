"""A Confluent-compatible Schema Registry whose only storage is the ``_schemas`` topic.

Layout (reads flow down, writes flow up)::

    http.RegistryApp     ASGI app routed on the raw path (so %2F in subjects works), auth, limits
    routes               one adapter per Confluent REST route
    service              the operations; 4xx for bad input, 5xx for transient states
    compatibility        seven levels over avro.compatibility; avro_schema adds Java's checks
    state                a pure fold of the topic's records (subjects, versions, ids, levels)
    store                reader thread (-> state, readiness, read-your-writes) + idempotent producer
    election             primary election through a Kafka consumer group

Several instances: every instance reads ``_schemas`` and serves reads. Exactly one, the member of
the consumer group ``<prefix>-registry-<topic>`` that owns the topic's partition 0, is the
primary; only it assigns ids and writes. **A non-primary does not forward**: a write sent to it
answers HTTP 503 with ``error_code`` 50004, so clients retry against the primary (put the
instances behind a load balancer that targets the primary, or point writers at it). After
winning an election, the primary first reads to the end of the topic (a NOOP marker round-trip)
before it decides any id. A crashed primary is replaced after the session timeout (~6 s).
"""

from orderstream.registry.server import DEFAULT_TOPIC, serve

__all__ = ["DEFAULT_TOPIC", "serve"]
