"""The plugin's life cycle in real QGIS: loaded through ``classFactory``, registrations, unload.

QGIS has no ``iface`` headless (and ``qgis.testing.mocked`` needs the ``mock`` package), so the GUI
side is checked against :class:`RecordingIface`, which records the calls the plugin makes on it.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

ALGORITHM_IDS = [
    "dms2f:detect_anomalies",
    "dms2f:detect_with_model",
    "dms2f:rx_detector",
    "dms2f:threshold_anomalies",
    "dms2f:evaluate_detection",
    "dms2f:import_benchmark",
]


class RecordingIface:
    """The part of ``QgisInterface`` the plugin uses, recording every call."""

    def __init__(self) -> None:
        self.layer_actions: list[tuple[Any, str, Any, bool]] = []
        self.removed_layer_actions: list[Any] = []
        self.plugin_menu: list[tuple[str, Any]] = []
        self.active_layer: Any | None = None

    def mainWindow(self) -> None:  # noqa: N802 - QgisInterface API
        return None

    def addCustomActionForLayerType(self, action, menu, layer_type, all_layers):  # noqa: N802
        self.layer_actions.append((action, menu, layer_type, all_layers))

    def removeCustomActionForLayerType(self, action) -> bool:  # noqa: N802
        self.removed_layer_actions.append(action)
        return True

    def addPluginToMenu(self, name, action) -> None:  # noqa: N802
        self.plugin_menu.append((name, action))

    def removePluginMenu(self, name, action) -> None:  # noqa: N802
        self.plugin_menu.remove((name, action))

    def activeLayer(self):  # noqa: N802
        return self.active_layer

    def messageBar(self):  # noqa: N802
        from qgis.gui import QgsMessageBar

        if not hasattr(self, "bar"):
            self.bar = QgsMessageBar()
        return self.bar


def registry():
    from qgis.core import QgsApplication

    return QgsApplication.processingRegistry()


@pytest.fixture
def free_provider_slot(dms2f_plugin):
    """Unload the session's plugin so a test can load its own; load it again afterwards."""
    dms2f_plugin.unload()
    assert registry().providerById("dms2f") is None
    yield
    dms2f_plugin.initProcessing()
    assert registry().providerById("dms2f") is not None


def test_provider_lists_the_algorithms_in_their_fixed_order(dms2f_plugin):
    from dms2f_had.dms2f_plugin.qgis.provider import ALGORITHM_CLASSES

    provider = registry().providerById("dms2f")
    assert provider.name() == "DMS2F-HAD" and not provider.icon().isNull()
    assert [f"dms2f:{cls.NAME}" for cls in ALGORITHM_CLASSES] == ALGORITHM_IDS
    ids = {alg.id() for alg in provider.algorithms()}
    assert ids == set(ALGORITHM_IDS) | {"dms2f:detect_and_threshold"}


def test_class_factory_init_processing_and_unload_as_qgis_process_does(free_provider_slot):
    from processing.core.ProcessingConfig import ProcessingConfig

    import dms2f_had

    plugin = dms2f_had.classFactory(None)
    plugin.initProcessing()
    assert registry().providerById("dms2f") is not None
    assert "DMS2F_DEVICE" in ProcessingConfig.settings
    plugin.unload()
    assert registry().providerById("dms2f") is None
    assert "DMS2F_DEVICE" not in ProcessingConfig.settings


def test_layer_action_opens_detection_for_raster_layers_and_is_removed(free_provider_slot, scene,
                                                                     monkeypatch):
    import processing
    from qgis.core import QgsMapLayerType, QgsRasterLayer

    import dms2f_had

    iface = RecordingIface()
    plugin = dms2f_had.classFactory(iface)
    plugin.initGui()
    try:
        assert registry().providerById("dms2f") is not None
        [(action, menu, layer_type, all_layers)] = iface.layer_actions
        assert layer_type == QgsMapLayerType.RasterLayer and all_layers is True
        assert action.text().startswith("Detect anomalies")

        opened = []
        monkeypatch.setattr(processing, "execAlgorithmDialog",
                            lambda alg_id, params: opened.append((alg_id, params)))
        iface.active_layer = QgsRasterLayer(scene.cube, "scene", "gdal")
        action.trigger()
        assert opened == [("dms2f:detect_anomalies", {"INPUT": iface.active_layer})]
    finally:
        plugin.unload()
    assert iface.removed_layer_actions == [action]
    assert iface.plugin_menu == []
    assert registry().providerById("dms2f") is None


def test_missing_torch_is_offered_at_start_and_in_the_plugin_menu(free_provider_slot, monkeypatch):
    import dms2f_had
    from dms2f_had.dms2f_plugin import private_env

    monkeypatch.setattr(private_env, "missing_dependencies", lambda *args: ["torch", "numba"])
    iface = RecordingIface()
    plugin = dms2f_had.classFactory(iface)
    plugin.initGui()
    try:
        assert "torch, numba" in iface.messageBar().currentItem().text()
        entries = [action.text() for _menu, action in iface.plugin_menu]
        assert entries == ["Install Python dependencies…", "Copy diagnostics report"]
    finally:
        plugin.unload()
    assert iface.plugin_menu == []


def test_settings_are_algorithm_defaults(dms2f_plugin):
    from processing.core.ProcessingConfig import ProcessingConfig

    settings = {name: ProcessingConfig.settings[name] for name in
                ("DMS2F_DEVICE", "DMS2F_THREADS", "DMS2F_MODELS_FOLDER")}
    assert {s.group for s in settings.values()} == {"DMS2F-HAD"}
    saved = settings["DMS2F_DEVICE"].value, settings["DMS2F_THREADS"].value
    try:
        settings["DMS2F_DEVICE"].value = "cpu"
        settings["DMS2F_THREADS"].value = 1
        alg = registry().createAlgorithmById("dms2f:detect_anomalies")
        assert alg.parameterDefinition("DEVICE").defaultValue() == 1
        assert alg.parameterDefinition("THREADS").defaultValue() == 1
        settings["DMS2F_THREADS"].value = 100000  # saved on a bigger machine: capped to the cores
        alg = registry().createAlgorithmById("dms2f:detect_anomalies")
        from dms2f_had.dms2f_plugin.engine.bounds import usable_cores

        assert alg.parameterDefinition("THREADS").defaultValue() == usable_cores()
        assert alg.parameterDefinition("THREADS").maximum() == usable_cores()
    finally:
        settings["DMS2F_DEVICE"].value, settings["DMS2F_THREADS"].value = saved


@pytest.mark.parametrize("alg_id", ALGORITHM_IDS)
def test_algorithms_have_help_groups_and_advanced_flags(dms2f_plugin, alg_id):
    from qgis.core import QgsProcessingParameterDefinition

    alg = registry().createAlgorithmById(alg_id)
    assert alg.name() == alg_id.split(":")[1] and alg.groupId() and alg.group()
    help_text = alg.shortHelpString()
    for definition in alg.parameterDefinitions():
        label = definition.description().split(" (")[0].split(",")[0]
        if not definition.flags() & QgsProcessingParameterDefinition.FlagAdvanced:
            assert label.lower() in help_text.lower(), (alg_id, label)
    advanced = {d.name() for d in alg.parameterDefinitions()
                if d.flags() & QgsProcessingParameterDefinition.FlagAdvanced}
    assert advanced <= {"SEED", "STEPS", "LOCAL_WINDOW", "KEEP_ALL_BANDS", "THREADS", "TILE_SIZE"}
    assert advanced >= ({"THREADS", "TILE_SIZE"} & {d.name() for d in alg.parameterDefinitions()})


def test_log_records_reach_the_message_log_and_the_running_feedback(dms2f_plugin):
    from qgis.core import QgsApplication, QgsProcessingFeedback

    from dms2f_had.dms2f_plugin.qgis import log_bridge

    received = []

    def on_message(message, tag, level):
        received.append((tag, message))

    QgsApplication.messageLog().messageReceived.connect(on_message)
    logger = logging.getLogger("dms2f_had.dms2f_plugin.engine.test")
    try:
        logger.info("outside a run")

        class Feedback(QgsProcessingFeedback):
            def __init__(self):
                super().__init__()
                self.infos = []

            def pushInfo(self, info):  # noqa: N802
                self.infos.append(info)

        feedback = Feedback()
        with log_bridge.feedback_logging(feedback):
            logger.info("inside a run")
    finally:
        QgsApplication.messageLog().messageReceived.disconnect(on_message)
    assert ("DMS2F-HAD", "outside a run") in received
    assert ("DMS2F-HAD", "inside a run") not in received
    assert feedback.infos == ["inside a run"]
