"""The Toolbox's "Edit a Copy in the Model Designer…" entry for the packaged workflows.

QGIS offers "Edit Model…" only for models of the user's own Models provider. A packaged model
lives in the plugin folder, which an update replaces, so it is never edited in place: this entry
opens a copy, without a file, in the Model Designer; saving it asks for a name and puts it with
the user's models (Processing Toolbox > Models), where QGIS's own "Edit Model…" takes over.
Desktop only (registered by ``initGui``).
"""

from __future__ import annotations

from processing.gui.ContextAction import ContextAction
from processing.gui.ProviderActions import ProviderContextMenuActions
from qgis.core import QgsApplication, QgsProcessingModelAlgorithm
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

PROVIDER_ID = "dms2f"


def _tr(text: str) -> str:
    return QCoreApplication.translate("Dms2fPlugin", text)


def model_copy(model: QgsProcessingModelAlgorithm) -> QgsProcessingModelAlgorithm:
    """A plain model with the same definition as ``model``, tied to no file."""
    copy = QgsProcessingModelAlgorithm()
    copy.loadVariant(model.toVariant())
    copy.setSourceFilePath("")
    return copy


def open_model_copy(model: QgsProcessingModelAlgorithm) -> object:
    """Open a copy of ``model`` in the Model Designer; return the designer window."""
    from processing.modeler.ModelerDialog import ModelerDialog

    dialog = ModelerDialog.create(model_copy(model))
    dialog.update_model.connect(_refresh_user_models)
    dialog.show()
    dialog.activate()
    return dialog


def _refresh_user_models() -> None:
    """Show a saved copy under Processing Toolbox > Models at once."""
    provider = QgsApplication.processingRegistry().providerById("model")
    if provider is not None:
        provider.refreshAlgorithms()


class EditModelCopyAction(ContextAction):
    """A Processing Toolbox ``ContextAction``: enabled on this provider's models, opens a copy."""

    def __init__(self) -> None:
        super().__init__()
        self.name = _tr("Edit a Copy in the Model Designer…")

    def icon(self) -> QIcon:  # noqa: D102 - Processing API
        return QgsApplication.getThemeIcon("/processingModel.svg")

    def isEnabled(self) -> bool:  # noqa: N802, D102 - Processing API
        model = getattr(self, "itemData", None)
        provider = model.provider() if isinstance(model, QgsProcessingModelAlgorithm) else None
        return provider is not None and provider.id() == PROVIDER_ID

    def execute(self) -> None:  # noqa: D102 - Processing API
        open_model_copy(self.itemData)


_ACTIONS: list[EditModelCopyAction] = []


def register() -> None:
    """Add the entry to the Toolbox's right-click menu (idempotent); called by ``initGui``."""
    if not _ACTIONS:
        _ACTIONS.append(EditModelCopyAction())
        ProviderContextMenuActions.registerProviderContextMenuActions(_ACTIONS)


def unregister() -> None:
    """Remove the entry again; called by ``unload``."""
    if _ACTIONS:
        ProviderContextMenuActions.deregisterProviderContextMenuActions(list(_ACTIONS))
        _ACTIONS.clear()


def registered() -> list[EditModelCopyAction]:
    """The entries currently registered by this plugin."""
    return [action for action in ProviderContextMenuActions.actions if action in _ACTIONS]
