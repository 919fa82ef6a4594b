"""The target-implant benchmark: synthetic targets of known size in real scenes, beside RX.

Pure numpy synthesis (:mod:`.placement`, :mod:`.spectra`, :mod:`.synthesis`), the scene variants
a different sensor would give and their files (:mod:`.variants`), the report (:mod:`.report`)
and ``dms2f-had bench --implant`` (:mod:`.command` parses and reports, :mod:`.runner` runs),
which reuses the bench's worker process per run. The implant masks are ground truth: they stay
in the process that runs the benchmark and are read only after a score map is written.
"""
