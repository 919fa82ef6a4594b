"""Desktop-only entries that install the deep-learning dependencies and copy the diagnostics.

When torch is missing at start-up, a message-bar notice offers the installation; the same entries
stay in Plugins > DMS2F-HAD. Installation (``deps.install_private_env``) runs as a background
task, logs which torch build it installs and each pip line to the DMS2F-HAD tab of the Log
Messages panel, never changes QGIS's own Python packages, and removes the notice once the
packages import.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from qgis.core import Qgis, QgsApplication, QgsTask
from qgis.gui import QgsMessageBarItem
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtWidgets import QAction, QApplication, QMessageBox, QPushButton

from .. import deps, diagnostics, private_env

LOG = logging.getLogger(__name__)


def _tr(text: str) -> str:
    return QCoreApplication.translate("Dms2fPlugin", text)


class DependencyMenu:
    """The plugin-menu entries and the start-up notice about missing dependencies."""

    def __init__(self, iface: Any) -> None:
        self.iface = iface
        self.menu = _tr("DMS2F-HAD")
        self.actions: list[QAction] = []
        self.task: QgsTask | None = None
        self.notice: QgsMessageBarItem | None = None

    def add(self) -> None:
        """Add the menu entries; show the notice when a required package is missing."""
        parent = self.iface.mainWindow()
        for text, slot in ((_tr("Install Python dependencies…"), self.install),
                           (_tr("Copy diagnostics report"), self.copy_report)):
            action = QAction(text, parent)
            action.triggered.connect(slot)
            self.iface.addPluginToMenu(self.menu, action)
            self.actions.append(action)
        missing = private_env.missing_dependencies()
        if missing:
            self.offer(missing)

    def remove(self) -> None:
        """Remove the menu entries and the notice again."""
        self.clear_notice()
        for action in self.actions:
            self.iface.removePluginMenu(self.menu, action)
            action.deleteLater()
        self.actions = []

    def offer(self, missing: list[str]) -> None:
        """Show a message-bar notice with an "Install" button."""
        bar = self.iface.messageBar()
        text = _tr("The deep-learning detector needs {packages} (RX, thresholding and evaluation "
                   "work without them).").format(packages=", ".join(missing))
        item = bar.createMessage(_tr("DMS2F-HAD"), text)
        button = QPushButton(_tr("Install…"), item)
        button.clicked.connect(self.install)
        item.layout().addWidget(button)
        bar.pushWidget(item, Qgis.Warning)
        self.notice = item

    def clear_notice(self) -> None:
        """Remove the "needs ..." notice from the message bar, if it is still shown."""
        if self.notice is not None:
            with contextlib.suppress(RuntimeError):  # already closed by the user
                self.iface.messageBar().popWidget(self.notice)
            self.notice = None

    def install(self) -> None:
        """Ask for confirmation, then install the private environment in a background task."""
        if self.task is not None:
            return
        plan = deps.choose_torch_build(reachable=True)  # no network wait in the GUI thread
        command = " ".join(deps.install_command(build=plan))
        answer = QMessageBox.question(
            self.iface.mainWindow(), _tr("Install DMS2F-HAD dependencies"),
            _tr("This downloads PyTorch, numba and safetensors into a private environment used "
                "only by DMS2F-HAD:\n\n{plan}{fallback}\n\n{command}\n\nQGIS's own Python "
                "packages are not changed. Progress is shown in the DMS2F-HAD tab of the Log Messages "
                "panel. Continue?").format(
                plan=plan.message, command=command,
                fallback=_tr(" If that index cannot be reached, pip's usual index is used; the log "
                             "says which.") if plan.kind == "cpu" else ""))
        if answer != QMessageBox.Yes:
            return
        self.task = QgsTask.fromFunction(_tr("Installing DMS2F-HAD dependencies"),
                                         self._run_install, on_finished=self._installed)
        QgsApplication.taskManager().addTask(self.task)

    @staticmethod
    def _run_install(task: QgsTask) -> str:
        return str(deps.install_private_env(LOG.info))

    def _installed(self, error: BaseException | None, env: str | None = None) -> None:
        self.task = None
        bar = self.iface.messageBar()
        if error is None and not private_env.missing_dependencies():
            self.clear_notice()
            bar.pushSuccess(_tr("DMS2F-HAD"),
                            _tr("Dependencies installed in {env}.").format(env=env))
            return
        LOG.error("Installing the dependencies failed: %s", error)
        bar.pushCritical(_tr("DMS2F-HAD"), _tr("Installing the dependencies failed; see the "
                                                "DMS2F-HAD tab of the Log Messages panel."))

    def copy_report(self) -> None:
        """Copy the diagnostics report to the clipboard for a bug report."""
        QApplication.clipboard().setText(diagnostics.diagnostics_report())
        self.iface.messageBar().pushInfo(_tr("DMS2F-HAD"),
                                         _tr("Diagnostics report copied to the clipboard."))
