"""Evaluation harness: folder metrics (``uare eval``), fixed benchmark suites (``uare bench``), reports.

- :mod:`uare.eval.metricset`: metrics by name (``uare.metrics`` + optional pyiqa) and protocols.
- :mod:`uare.eval.restore`: pairing and scoring a folder of outputs against ground truth.
- :mod:`uare.eval.iqa`: scores / MOS files and SRCC / PLCC / KRCC.
- :mod:`uare.eval.settings`: the ten fixed restoration settings.
- :mod:`uare.eval.bench_restore`, :mod:`uare.eval.bench_iqa`: the benchmarks.
- :mod:`uare.eval.sets`: the paper's named sets (RealSR, DRealSR, DIV2K-Val; KADID-10k, SPAQ, CSIQ).
- :mod:`uare.eval.report`: CSV / JSON / Markdown / figures.
- :mod:`uare.eval.bench`: the work of ``uare eval`` and ``uare bench`` as functions (the CLI only prints).
"""
