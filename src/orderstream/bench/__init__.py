"""Every benchmark in one package, behind ``orderstream bench``.

``runtime`` (the EOS runtime against the raw Python ceiling, restarts), ``pipeline`` (enrichment
drain, end-to-end latency, the orders API), ``stage1`` (enrichment's first stage in-process),
``analytics`` (throughput under EOS, window-close latency, dashboard delay) and ``registry``
(lookups/s, registration latency, start-up). Each prints a table, or with ``--json`` one object
whose keys are its figures plus ``bench`` (the benchmark's name). Percentiles come from
``orderstream.stats``. The services and the registry ship no benchmark code.
"""
