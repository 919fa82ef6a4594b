"""Rasters in and out through ``osgeo.gdal`` (the GDAL QGIS itself loads; no second GDAL).

Owns: opening sources and reading windows of valid spectra (:mod:`.raster`), GDAL mask and alpha
bands (:mod:`.masks`), metadata (:mod:`.rasterinfo`), band lists (:mod:`.bands`), windows and the
global tile grid (:mod:`.window`, :mod:`.tiles`), streaming statistics (:mod:`.statistics`),
benchmark ``.mat`` scenes (:mod:`.matfile`), GDAL's error handling in either exceptions mode
(:mod:`.gdalutil`), and the one checked, atomic writer (:mod:`.writer`, with the GeoTIFF writer
:mod:`.raster_writer` and the destination checks and failure messages of :mod:`.destinations`).

May import: numpy, GDAL, scipy/h5py for ``.mat`` files, and the engine's foundation modules
(``errors``, ``progress``, ``types``, ``bounds``); nothing from the other subpackages.
"""
