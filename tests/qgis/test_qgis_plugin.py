"""The plugin's life cycle in real QGIS: loaded through ``classFactory``, registrations, unload.

QGIS has no ``iface`` headless (and ``qgis.testing.mocked`` needs the ``mock`` package), so the GUI
side is checked against :class:`RecordingIface`, which records the calls the plugin makes on it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

ALGORITHM_IDS = [
    "dms2f:detect_anomalies",
    "dms2f:detect_with_model",
    "dms2f:rx_detector",
    "dms2f:detect_many",
    "dms2f:threshold_anomalies",
    "dms2f:evaluate_detection",
    "dms2f:import_benchmark",
]


class RecordingIface:
    """The part of ``QgisInterface`` the plugin uses, recording every call."""

    def __init__(self) -> None:
        self.layer_actions: list[tuple[Any, str, Any, bool]] = []
        self.actions_per_layer: list[tuple[Any, Any]] = []
        self.removed_layer_actions: list[Any] = []
        self.plugin_menu: list[tuple[str, Any]] = []
        self.active_layer: Any | None = None

    def mainWindow(self) -> None:  # noqa: N802 - QgisInterface API
        return None

    def addCustomActionForLayerType(self, action, menu, layer_type, all_layers):  # noqa: N802
        self.layer_actions.append((action, menu, layer_type, all_layers))

    def addCustomActionForLayer(self, action, layer) -> None:  # noqa: N802
        self.actions_per_layer.append((action, layer))

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


def test_layer_action_opens_detection_for_multiband_rasters_and_is_removed(free_provider_slot, scene,
                                                                         monkeypatch):
    import processing
    from qgis.core import QgsMapLayerType, QgsProject, QgsRasterLayer

    import dms2f_had

    project = QgsProject.instance()
    cube = QgsRasterLayer(scene.cube, "scene", "gdal")
    one_band = QgsRasterLayer(scene.one_band, "one band", "gdal")
    project.addMapLayer(cube)
    iface = RecordingIface()
    plugin = dms2f_had.classFactory(iface)
    plugin.initGui()
    try:
        assert registry().providerById("dms2f") is not None
        [(action, menu, layer_type, all_layers)] = iface.layer_actions
        assert layer_type == QgsMapLayerType.RasterLayer and all_layers is False
        assert action.text() == "Detect anomalies…"
        envi = QgsRasterLayer(scene.envi, "envi", "gdal")
        project.addMapLayers([one_band, envi])
        offered = [layer for act, layer in iface.actions_per_layer if act is action]
        assert offered == [cube, envi], "offered on multi-band rasters, present and added later"

        opened = []
        monkeypatch.setattr(processing, "execAlgorithmDialog",
                            lambda alg_id, params: opened.append((alg_id, params)))
        iface.active_layer = cube
        action.trigger()
        assert opened == [("dms2f:detect_anomalies", {"INPUT": cube})]
    finally:
        plugin.unload()
        project.removeAllMapLayers()
    assert iface.removed_layer_actions == [action]
    assert iface.plugin_menu == []
    assert registry().providerById("dms2f") is None
    project.addMapLayer(QgsRasterLayer(scene.cube, "after unload", "gdal"))
    assert len(iface.actions_per_layer) == 2, "no longer listening once unloaded"
    project.removeAllMapLayers()


def test_packaged_model_offers_an_editable_copy_in_the_toolbox(free_provider_slot):
    from processing.gui.ProviderActions import ProviderContextMenuActions

    import dms2f_had
    from dms2f_had.dms2f_plugin.qgis import model_actions
    from dms2f_had.dms2f_plugin.qgis.model_builder import model_summary

    plugin = dms2f_had.classFactory(RecordingIface())
    plugin.initGui()
    try:
        [entry] = model_actions.registered()
        assert entry.name == "Edit a Copy in the Model Designer…"
        packaged = registry().algorithmById("dms2f:detect_and_threshold")
        entry.setData(packaged, None)
        assert entry.isEnabled()
        entry.setData(registry().algorithmById("dms2f:rx_detector"), None)
        assert not entry.isEnabled()
        copy = model_actions.model_copy(packaged)
        assert copy.sourceFilePath() == "", "a save must ask for a new file, never the plugin's"
        assert packaged.sourceFilePath().endswith("detect_and_threshold.model3")
        assert model_summary(copy) == model_summary(packaged)
        assert copy.validate()[0]
    finally:
        plugin.unload()
    assert entry not in ProviderContextMenuActions.actions


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


def test_the_notice_goes_once_the_install_succeeded(free_provider_slot, monkeypatch):
    from qgis.core import Qgis

    import dms2f_had
    from dms2f_had.dms2f_plugin import private_env

    missing = ["torch"]
    monkeypatch.setattr(private_env, "missing_dependencies", lambda *args: list(missing))
    iface = RecordingIface()
    plugin = dms2f_had.classFactory(iface)
    plugin.initGui()
    try:
        bar = iface.messageBar()
        assert "needs torch" in bar.currentItem().text()
        plugin.dependency_menu._installed(RuntimeError("pip failed"), None)
        assert any("needs torch" in item.text() for item in bar.items()), "kept after a failure"
        missing.clear()
        plugin.dependency_menu._installed(None, "/tmp/env")
        texts = [item.text() for item in bar.items()]
        assert not any("needs torch" in text for text in texts)
        assert bar.currentItem().level() == Qgis.Success and "/tmp/env" in bar.currentItem().text()
    finally:
        plugin.unload()


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


def test_each_family_has_its_own_icon(dms2f_plugin):
    icons = {alg_id: registry().algorithmById(alg_id).svgIconPath() for alg_id in
             ALGORITHM_IDS + ["dms2f:detect_and_threshold"]}
    assert icons["dms2f:detect_anomalies"] == icons["dms2f:detect_with_model"]
    assert len(set(icons.values())) == 6
    assert all(Path(path).is_file() for path in icons.values())


@pytest.mark.parametrize("alg_id", ALGORITHM_IDS)
def test_algorithms_have_help_groups_and_advanced_flags(dms2f_plugin, alg_id):
    from qgis.core import QgsProcessingParameterDefinition

    alg = registry().createAlgorithmById(alg_id)
    assert alg.name() == alg_id.split(":")[1] and alg.groupId() and alg.group()
    help_text = alg.shortHelpString()
    for definition in alg.parameterDefinitions():
        label = definition.description().split(" (")[0].split(",")[0]
        assert label.lower() in help_text.lower(), (alg_id, label)
    assert "Processing > Options" not in help_text, "3.22 to 3.40 call it Settings > Options"
    assert alg.svgIconPath().endswith(".svg") and not alg.icon().isNull()
    advanced = {d.name() for d in alg.parameterDefinitions()
                if d.flags() & QgsProcessingParameterDefinition.FlagAdvanced}
    assert advanced <= {"SEED", "STEPS", "LOCAL_WINDOW", "KEEP_ALL_BANDS", "THREADS", "TILE_SIZE",
                        "SCHEDULER", "WORKERS"}
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


def test_message_log_lines_are_html_escaped(dms2f_plugin):
    """The Log Messages panel renders HTML: pip's 'llvmlite<0.51,>=0.50' must stay readable."""
    from qgis.core import QgsApplication

    received = []

    def on_message(message, tag, level):
        received.append(message)

    QgsApplication.messageLog().messageReceived.connect(on_message)
    try:
        logging.getLogger("dms2f_had.dms2f_plugin.deps").info("Collecting llvmlite<0.51,>=0.50.0dev0")
    finally:
        QgsApplication.messageLog().messageReceived.disconnect(on_message)
    assert received == ["Collecting llvmlite&lt;0.51,&gt;=0.50.0dev0"]
