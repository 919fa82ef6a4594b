"""Rasters in and out through ``osgeo.gdal`` (the GDAL QGIS itself loads; no second GDAL).

Owns: opening sources and reading windows of valid spectra (:mod:`.raster`), metadata
(:mod:`.rasterinfo`), band lists (:mod:`.bands`), windows and the global tile grid
(:mod:`.window`, :mod:`.tiles`), streaming statistics (:mod:`.statistics`), benchmark ``.mat``
scenes (:mod:`.matfile`), GDAL's error handling (:mod:`.gdalutil`) and the one checked, atomic
writer (:mod:`.writer`).

May import: numpy, GDAL, scipy/h5py for ``.mat`` files, and the engine's foundation modules
(``errors``, ``progress``, ``types``); nothing from the other subpackages.
"""
