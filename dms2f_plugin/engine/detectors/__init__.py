"""Detectors: everything that turns a raster into an anomaly-score map.

Owns: global and local RX (:mod:`.rx`, :mod:`.whitening`), the 16 x 16 block grid
(:mod:`.blocks`), fitting DMS2F-HAD to a scene (:mod:`.fitting`, :mod:`.training`,
:mod:`.normalisation`), the fitted-model file (:mod:`.model_file`), reconstruction
(:mod:`.inference`), the calibrated residual score (:mod:`.residual_score`), the local background
correction (:mod:`.local_background`), the DMS2F-HAD tile scorer (:mod:`.dms2f_scorer`), the tiled
scoring driver (:mod:`.tiled`), torch devices (:mod:`.device`) and the memory estimate of a run
(:mod:`.memory`).

May import: numpy, scipy, torch (lazily: RX must work without it), ``models``, the foundation
modules and :mod:`..io`; never :mod:`..products` or :mod:`..app`.
"""
