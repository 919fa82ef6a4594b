"""The QGIS-free inference engine: numpy, GDAL and the network in ``models``; never QGIS.

Subpackages, each importing only from those listed before it (a test enforces it, and that no
module imports itself round a cycle):

- foundation modules here: :mod:`.errors` (the one error root), :mod:`.progress` (the progress
  and cancel protocol), :mod:`.types` (shared aliases), :mod:`.bounds` (the bounds of every
  number a user types); they import nothing from the subpackages;
- :mod:`.io`: rasters in and out through GDAL (sources, metadata, band lists, windows, the tile
  grid, streaming statistics, ``.mat`` scenes, GDAL's error handling in either exceptions mode,
  the one checked, atomic writer);
- :mod:`.detectors`: what turns a raster into a score map (RX, the DMS2F-HAD fit, its
  calibrated residual score, the local background, the tiled scoring driver, devices);
- :mod:`.products`: what is made from a finished score map (thresholds, polygons, evaluation,
  report, quicklook);
- :mod:`.app`: the user-level tasks and their front ends (jobs facade, CLI, bench).
"""
