"""The provider's settings in Settings > Options > Processing > Providers > DMS2F-HAD.

They are defaults only: every algorithm shows them as its parameter defaults, and a value given
in a run (dialog, ``processing.run``, ``qgis_process``) always wins.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from processing.core.ProcessingConfig import ProcessingConfig, Setting
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

#: Device choices, in the order of the ``DEVICE`` enum of the algorithms (never translated).
DEVICES = ("auto", "cpu", "cuda")

DEVICE = "DMS2F_DEVICE"
THREADS = "DMS2F_THREADS"
MODELS_FOLDER = "DMS2F_MODELS_FOLDER"


@dataclass(frozen=True)
class ProviderSettings:
    """The current values of the provider settings.

    Attributes:
        device: one of :data:`DEVICES`.
        threads: CPU threads for the engine; 0 lets it use every core.
        models_folder: folder where fitted models are kept when a run names no model file;
            empty keeps no model.
    """

    device: str = "auto"
    threads: int = 0
    models_folder: str = ""

    @property
    def device_index(self) -> int:
        """Index of :attr:`device` in :data:`DEVICES` (the ``DEVICE`` enum default)."""
        return DEVICES.index(self.device) if self.device in DEVICES else 0


def _tr(text: str) -> str:
    return QCoreApplication.translate("Dms2fSettings", text)


def settings_definitions(group: str) -> list[Setting]:
    """Return the provider's settings, shown under ``group`` in the Processing options."""
    return [
        Setting(group, DEVICE, _tr("Default device (auto uses CUDA when available)"), DEVICES[0],
                valuetype=Setting.SELECTION, options=list(DEVICES)),
        Setting(group, THREADS, _tr("Default CPU threads (0 = all cores)"), 0, valuetype=Setting.INT),
        Setting(group, MODELS_FOLDER, _tr("Folder that keeps fitted models (empty = keep none)"), "",
                valuetype=Setting.FOLDER),
    ]


def add_settings(group: str, icon: QIcon | None = None) -> None:
    """Register the settings with Processing under ``group`` and read their stored values."""
    if icon is not None:
        ProcessingConfig.setGroupIcon(group, icon)
    for setting in settings_definitions(group):
        ProcessingConfig.addSetting(setting)
    ProcessingConfig.readSettings()


def remove_settings() -> None:
    """Unregister the settings again (their stored values stay in the user's profile)."""
    for name in (DEVICE, THREADS, MODELS_FOLDER):
        if name in ProcessingConfig.settings:
            ProcessingConfig.removeSetting(name)


def current() -> ProviderSettings:
    """Return the current settings, or the built-in defaults where one is unset or invalid."""
    device = ProcessingConfig.getSetting(DEVICE, readable=True)
    threads = _as_int(ProcessingConfig.getSetting(THREADS))
    folder = ProcessingConfig.getSetting(MODELS_FOLDER)
    return ProviderSettings(
        device=device if device in DEVICES else DEVICES[0],
        threads=max(0, threads or 0),
        models_folder=os.path.expanduser(str(folder)) if folder else "",
    )


def _as_int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
