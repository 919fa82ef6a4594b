"""DMS2F-HAD QGIS plugin package: the QGIS-free engine and the QGIS layer."""
