"""The QGIS layer: the only package of the plugin that imports ``qgis``.

It turns Processing parameters into calls of the QGIS-free engine and feedback into engine
progress; nothing here computes anomaly scores itself.
"""
