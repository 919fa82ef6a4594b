"""The user-level tasks and their front ends.

The jobs facade (:mod:`.jobs`, :mod:`.map_jobs`,
:mod:`.results`) that the CLI and the QGIS layer call, the checks both run before any work
(:mod:`.preflight`), the ``dms2f-had`` command line (:mod:`.cli`, with SIGTERM handled like Ctrl-C
by :mod:`.signals`) and the benchmark (:mod:`.bench`).

May import everything else in the engine; nothing in the engine imports it.
"""
