"""Every benchmark in one package, behind ``orderstream bench``.

``runtime`` (the EOS runtime against the raw Python ceiling, restarts), ``pipeline`` (the whole
pipeline as one: enrichment drain, one and two instances, end-to-end latency and the sustainable
rate through enrichment and analytics together, the orders API; its parts in ``instances``,
``sustained``, ``probes`` and the pure ``search``), ``stage1`` (enrichment's first stage
in-process), ``analytics`` (throughput under EOS, window-close latency, dashboard delay) and
``registry`` (lookups/s, registration latency, start-up). Each prints a table, or with ``--json``
one object whose keys are its figures plus ``bench`` (the benchmark's name), and ``--json-out``
writes that object to a file (``cli/bench_output.py``); ``plot`` draws PNGs from it. Percentiles
come from ``orderstream.stats``. The services and the registry ship no benchmark code.
"""
