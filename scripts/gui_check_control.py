"""Runs inside the QGIS desktop for ``scripts/gui_check.py`` (``qgis --code THIS_FILE``).

A command server in the GUI thread: every 200 ms it looks for ``$GUI_CHECK_DIR/cmd/NNN.json``
(``{"step": name, "args": {...}}``), runs the step of that name and writes
``$GUI_CHECK_DIR/out/NNN.json`` (``{"ok": true, "value": ...}`` or the traceback). Steps only
read the GUI and do what a user's click would do (open a dialog, press its button); the real
mouse clicks (context menus) come from ``xdotool`` in the orchestrator, with the screen positions
the steps report. Anything that opens a modal dialog is started with a zero timer, so that the
server keeps answering while the dialog is open.
"""

from __future__ import annotations

import json
import os
import traceback
from pathlib import Path

from qgis.core import Qgis, QgsApplication, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import (
    QAbstractButton,
    QApplication,
    QDialog,
    QDockWidget,
    QLabel,
    QListWidget,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QTextEdit,
)
from qgis.utils import iface

ROOT = Path(os.environ["GUI_CHECK_DIR"])
COMMANDS, RESULTS = ROOT / "cmd", ROOT / "out"
STEPS = {}


def step(function):
    STEPS[function.__name__] = function
    return function


def _center(widget, rect=None) -> list[int]:
    rect = rect if rect is not None else widget.rect()
    point = widget.mapToGlobal(rect.center())
    return [point.x(), point.y()]


def _layer(name: str):
    matches = QgsProject.instance().mapLayersByName(name)
    if not matches:
        raise LookupError(f"no layer named {name!r}: {layer_names()}")
    return matches[0]


def _resolve(params: dict) -> dict:
    """Replace ``{"layer": name}`` values by the project's layer of that name."""
    return {key: _layer(value["layer"]) if isinstance(value, dict) and "layer" in value else value
            for key, value in params.items()}


def _processing_dialog():
    for widget in QApplication.topLevelWidgets():
        if widget.isVisible() and widget.inherits("QgsProcessingAlgorithmDialogBase"):
            return widget
    raise LookupError("no Processing dialog is open")


def _top_level(class_name: str):
    for widget in QApplication.topLevelWidgets():
        if widget.isVisible() and widget.inherits(class_name):
            return widget
    raise LookupError(f"no {class_name} window is open")


@step
def layer_names() -> list[str]:
    return [layer.name() for layer in QgsProject.instance().layerTreeRoot().layerOrder()]


@step
def setup() -> dict:
    """Maximise the window, show the Toolbox and the Log Messages panel; keep dialogs open after a
    run (Settings > Options > Processing > General) so that their log can be read."""
    from processing.core.ProcessingConfig import ProcessingConfig

    ProcessingConfig.setSettingValue(ProcessingConfig.KEEP_DIALOG_OPEN, True)
    window = iface.mainWindow()
    window.showMaximized()
    from qgis.utils import plugins

    toolbox = plugins["processing"].toolbox
    toolbox.show()
    log = window.findChild(QDockWidget, "MessageLog")
    if log is not None:
        log.show()
        window.tabifyDockWidget(toolbox, log)
        toolbox.raise_()
    return {"qgis": Qgis.QGIS_VERSION}


@step
def open_plugin_manager() -> str:
    QTimer.singleShot(0, iface.actionManagePlugins().trigger)
    return "opening"


@step
def plugin_manager_zip(path: str) -> list[int]:
    """Show the "Install from ZIP" page with ``path`` filled in; return the button's position."""
    dialog = _top_level("QgsPluginManager")
    pages = dialog.findChild(QListWidget, "mOptionsListWidget")
    for row in range(pages.count()):
        if "ZIP" in pages.item(row).text():
            pages.setCurrentRow(row)
    from qgis.gui import QgsFileWidget

    dialog.findChild(QgsFileWidget, "mZipFileWidget").setFilePath(path)
    button = dialog.findChild(QPushButton, "buttonInstallFromZip")
    return _center(button)


@step
def message_box() -> dict:
    """The open message box: its text and the position of each button."""
    box = QApplication.activeModalWidget()
    if not isinstance(box, QMessageBox):
        raise LookupError(f"no message box open (active modal: {box})")
    return {"text": box.text(), "buttons": {b.text().replace("&", ""): _center(b) for b in box.buttons()}}


@step
def close_top_level(class_name: str) -> str:
    _top_level(class_name).close()
    return "closed"


@step
def plugin_state() -> dict:
    import qgis.utils

    bar = iface.messageBar()
    return {"active": "dms2f_had" in qgis.utils.active_plugins,
            "plugin_folder": qgis.utils.home_plugin_path,
            "messages": [item.text() for item in bar.items()]}


@step
def message_bar_button(text: str) -> list[int]:
    for item in iface.messageBar().items():
        for button in item.findChildren(QAbstractButton):
            if button.text().replace("&", "") == text and button.isVisible():
                return _center(button)
    raise LookupError(f"no button {text!r} in the message bar")


@step
def tasks() -> list[str]:
    return [task.description() for task in QgsApplication.taskManager().activeTasks()]


@step
def shorten_fit(steps: int) -> str:
    """Shorten the fast preset's schedule in this QGIS process (the GUI path, not the fit, is checked)."""
    import dataclasses

    from dms2f_had.dms2f_plugin.engine.detectors import fitting

    fitting.SCHEDULES["fast"] = dataclasses.replace(fitting.SCHEDULES["fast"], steps=steps)
    return f"fast preset: {steps} steps"


@step
def load_rasters(paths: list[str]) -> list[str]:
    for path in paths:
        layer = QgsRasterLayer(path, Path(path).stem, "gdal")
        if not layer.isValid():
            raise ValueError(f"cannot load {path}")
        QgsProject.instance().addMapLayer(layer)
    iface.setActiveLayer(_layer(Path(paths[0]).stem))
    iface.zoomToActiveLayer()
    return layer_names()


@step
def set_visible(name: str, visible: bool) -> str:
    node = QgsProject.instance().layerTreeRoot().findLayer(_layer(name).id())
    node.setItemVisibilityChecked(visible)
    return name


@step
def layer_tree_point(name: str) -> list[int]:
    view = iface.layerTreeView()
    node = QgsProject.instance().layerTreeRoot().findLayer(_layer(name).id())
    index = view.node2index(node)
    view.scrollTo(index)
    return _center(view.viewport(), view.visualRect(index))


@step
def popup_menu() -> dict:
    menu = QApplication.activePopupWidget()
    if not isinstance(menu, QMenu):
        raise LookupError("no context menu is open")
    return {action.text(): _center(menu, menu.actionGeometry(action))
            for action in menu.actions() if action.text() and action.isVisible()}


@step
def close_popup() -> str:
    menu = QApplication.activePopupWidget()
    if menu is not None:
        menu.close()
    return "closed"


@step
def open_algorithm(alg_id: str, params: dict) -> str:
    import processing

    resolved = _resolve(params)
    QTimer.singleShot(0, lambda: processing.execAlgorithmDialog(alg_id, resolved))
    return "opening"


@step
def dialog_state() -> dict:
    dialog = _processing_dialog()
    log = dialog.findChild(QTextEdit, "txtLog")
    panel = dialog.mainWidget()
    values = {}
    for name, wrapper in getattr(panel, "wrappers", {}).items():
        try:
            value = wrapper.parameterValue()
        except Exception as err:  # noqa: BLE001 - a report, never a failure
            value = f"? {err}"
        values[name] = value if isinstance(value, (int, float, str, type(None))) else str(value)
    labels = {}
    for label in panel.findChildren(QLabel):
        if label.isVisible() and label.text():
            labels[label.text()] = label.width() >= label.sizeHint().width()
    return {"title": dialog.windowTitle(), "log": log.toPlainText() if log else "",
            "values": values, "labels_fit": labels,
            "running": not dialog.runButton().isEnabled() if dialog.runButton() else False,
            "run_button": _center(dialog.runButton()) if dialog.runButton().isVisible() else None}


@step
def dialog_set(params: dict) -> dict:
    dialog = _processing_dialog()
    dialog.setParameters(_resolve(params))
    return dialog_state()["values"]


@step
def dialog_show_log() -> str:
    dialog = _processing_dialog()
    dialog.showLog()
    return "log"


@step
def dialog_close() -> str:
    dialog = _processing_dialog()
    dialog.close()
    return "closed"


@step
def toolbox_point(search: str, alg_id: str) -> list[int]:
    from qgis.utils import plugins

    toolbox = plugins["processing"].toolbox
    toolbox.show()
    toolbox.raise_()
    toolbox.searchBox.setText(search)
    tree = toolbox.algorithmTree
    model = tree.model()
    pending = [model.index(row, 0) for row in range(model.rowCount())]
    while pending:
        index = pending.pop()
        alg = tree.algorithmForIndex(index)
        if alg is not None and alg.id() == alg_id:
            tree.scrollTo(index)
            tree.setCurrentIndex(index)
            return _center(tree.viewport(), tree.visualRect(index))
        pending += [model.index(row, 0, index) for row in range(model.rowCount(index))]
    raise LookupError(f"{alg_id} is not in the toolbox")


@step
def model_designer() -> dict:
    designer = _top_level("QgsModelDesignerDialog")
    designer.showMaximized()
    model = designer.model()
    ok, issues = model.validate()
    return {"title": designer.windowTitle(), "valid": ok, "issues": list(issues),
            "source": model.sourceFilePath(), "steps": sorted(model.childAlgorithms())}


@step
def show_attribute_table(name: str) -> str:
    iface.showAttributeTable(_layer(name))
    return "shown"


@step
def close_dialogs() -> int:
    closed = 0
    for widget in QApplication.topLevelWidgets():
        if widget.isVisible() and isinstance(widget, QDialog):
            widget.close()
            closed += 1
    return closed


@step
def attribute_values(name: str) -> list[dict]:
    layer = _layer(name)
    rows = []
    for feature in layer.getFeatures():
        row = {}
        for index, field in enumerate(layer.fields()):
            setup = layer.editorWidgetSetup(index)
            formatter = QgsApplication.fieldFormatterRegistry().fieldFormatter(setup.type())
            row[field.name()] = formatter.representValue(layer, index, setup.config(), None,
                                                         feature[field.name()])
        rows.append(row)
    return rows


@step
def legend_labels(name: str) -> list[str]:
    shader = _layer(name).renderer().shader().rasterShaderFunction()
    return [item.label for item in shader.colorRampItemList()]


@step
def message_log(tab: str) -> str:
    dock = iface.mainWindow().findChild(QDockWidget, "MessageLog")
    dock.show()
    dock.raise_()
    for tabs in dock.findChildren(QTabWidget):
        for index in range(tabs.count()):
            if tabs.tabText(index).replace("&", "") == tab:
                tabs.setCurrentIndex(index)
                page = tabs.widget(index)
                texts = page.findChildren(QPlainTextEdit) or page.findChildren(QTextEdit)
                if isinstance(page, (QPlainTextEdit, QTextEdit)):
                    texts = [page]
                return "\n".join(t.toPlainText() for t in texts)
    raise LookupError(f"no {tab!r} tab in the Log Messages panel")


@step
def quit_qgis() -> str:
    QTimer.singleShot(200, QgsApplication.instance().quit)
    return "quitting"


def _serve() -> None:
    for command in sorted(COMMANDS.glob("*.json")):
        result_path = RESULTS / command.name
        if result_path.exists():
            continue
        request = json.loads(command.read_text(encoding="utf-8"))
        try:
            result = {"ok": True, "value": STEPS[request["step"]](**request.get("args", {}))}
        except Exception:  # noqa: BLE001 - reported to the orchestrator
            result = {"ok": False, "error": traceback.format_exc()}
        temp = result_path.with_suffix(".tmp")
        temp.write_text(json.dumps(result, default=str), encoding="utf-8")
        temp.replace(result_path)


COMMANDS.mkdir(parents=True, exist_ok=True)
RESULTS.mkdir(parents=True, exist_ok=True)
_timer = QTimer(iface.mainWindow())
_timer.timeout.connect(_serve)
_timer.start(200)
(ROOT / "ready").write_text("ready", encoding="utf-8")
