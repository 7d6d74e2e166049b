"""A Confluent-compatible Schema Registry whose only storage is the ``_schemas`` topic.

Layout (reads flow down, writes flow up)::

    http.RegistryApp     ASGI app routed on the raw path (so %2F in subjects works), auth, limits
    routes               one adapter per Confluent REST route
    service              the operations; 4xx for bad input, 5xx for transient states
    compatibility        seven levels over avro.compatibility; avro_schema adds Java's checks
    state                a pure fold of the topic's records (subjects, versions, ids, levels)
    store                reader thread (-> state, readiness, read-your-writes) + idempotent producer
    election             primary election through a Kafka consumer group
    forward              non-primary -> primary forwarding of writes

Several instances: every instance reads ``_schemas`` and serves reads. Exactly one, the member of
the consumer group ``<prefix>-registry-<topic>`` that owns the topic's partition 0 (sticky
assignment), is the primary; only it assigns ids and writes. **A non-primary forwards writes**
to the primary, found through that group (each member's client id carries its advertised URL),
relays the answer verbatim, then catches up with the topic so the client reads its own write.
A forwarded request is never forwarded again; when no primary is known the answer is HTTP 503
with ``error_code`` 50004, and a failed forward is 500/50003. After winning an election, the
primary first reads to the end of the topic (a NOOP marker round-trip) before it decides any
id. A stopped primary is replaced at once, a crashed one after the session timeout (~6 s).

The server is ``orderstream.registry.server`` (``serve``, ``DEFAULT_TOPIC``). This package imports
nothing, so that a command needing only ``registry.auth`` does not load the web stack.
"""
