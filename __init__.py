"""QGIS plugin entry point: QGIS calls :func:`classFactory` and nothing else lives here."""


def classFactory(iface):  # noqa: N802 - name fixed by QGIS
    """Create the plugin for QGIS (``iface`` is ``None`` under ``qgis_process``).

    Before the plugin class is imported, the private environment holding torch and friends is
    appended to ``sys.path`` when QGIS's Python lacks them (see ``dms2f_plugin/private_env.py``).
    """
    from .dms2f_plugin import private_env

    private_env.activate_private_env()
    from .dms2f_plugin.qgis.plugin import Dms2fPlugin

    return Dms2fPlugin(iface)
