"""Analytics: exactly-once event-time windows, an online anomaly model and a live dashboard.

Pure logic (no Kafka): ``windows`` (tumbling windows, grace, lateness, merge), ``latency``
(mergeable percentile sketch), ``model`` (river HalfSpaceTrees), ``audit`` (invariant 3).
Wiring: ``store`` (window state in the transactional store), ``processor`` (the runtime
Processor), ``events`` (OrderStats / OrderAlert), ``live`` + ``app`` + ``web/`` (dashboard,
``/api/stats``, ``/api/events``), ``lag`` (consumer lag), ``service`` (``run analytics``),
``bench`` (``bench analytics``). Kept import-light: nothing is re-exported here.
"""
