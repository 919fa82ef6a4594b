"""Shared base of the provider's algorithms: naming, help, progress, logging and error handling.

Each algorithm file only declares its parameters and turns them into one engine call, run through
:meth:`Dms2fAlgorithm.run_engine`, which is the single place where engine errors become
``QgsProcessingException``.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any, Callable, TypeVar

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterDefinition,
    QgsRasterLayer,
)
from qgis.PyQt.QtCore import QT_TRANSLATE_NOOP, QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ...engine.errors import Dms2fError
from ...engine.io.bands import parse_band_list
from ...metadata import plugin_metadata
from .. import settings
from ..log_bridge import feedback_logging
from . import parameters as p
from .wording import qgis_words

T = TypeVar("T")

#: Translation context of every algorithm string (names, help, parameter labels, messages).
TR_CONTEXT = "Dms2fAlgorithm"

#: Group id -> untranslated group name; algorithms set ``GROUP_ID`` to one of the keys.
GROUPS: dict[str, str] = {
    "detection": QT_TRANSLATE_NOOP("Dms2fAlgorithm", "Anomaly detection"),
    "analysis": QT_TRANSLATE_NOOP("Dms2fAlgorithm", "Thresholding and evaluation"),
    "data": QT_TRANSLATE_NOOP("Dms2fAlgorithm", "Data"),
}

#: Folder of the algorithm icons (one per family: DMS2F-HAD, RX, thresholding, evaluation, data).
ICONS_DIR = Path(__file__).resolve().parents[3] / "resources" / "icons"

TRACKER_HINT = QT_TRANSLATE_NOOP(
    "Dms2fAlgorithm",
    "This is a bug in DMS2F-HAD. Please report it at {tracker} with this message and the "
    "diagnostics below.",
)


class FeedbackProgress:
    """Adapts a ``QgsProcessingFeedback`` to the engine's progress protocol."""

    def __init__(self, feedback: QgsProcessingFeedback) -> None:
        self._feedback = feedback

    def set_progress(self, percent: float) -> None:
        """Show ``percent`` (0 to 100) in the dialog's progress bar."""
        self._feedback.setProgress(float(percent))

    def is_canceled(self) -> bool:
        """Return True once the user pressed Cancel."""
        return bool(self._feedback.isCanceled())


class Dms2fAlgorithm(QgsProcessingAlgorithm):
    """Base of every ``dms2f:`` algorithm.

    Subclasses set the class attributes below, implement ``initAlgorithm`` and
    ``processAlgorithm``, and run their engine call through :meth:`run_engine`.

    Attributes:
        NAME: the stable algorithm id after ``dms2f:`` (lowercase, never translated).
        DISPLAY_NAME: the untranslated title, marked with ``QT_TRANSLATE_NOOP``.
        GROUP_ID: a key of :data:`GROUPS`.
        HELP: the untranslated help text (HTML allowed), marked with ``QT_TRANSLATE_NOOP``.
        ICON: the file name of the family's icon in :data:`ICONS_DIR`.
    """

    NAME = ""
    DISPLAY_NAME = ""
    GROUP_ID = "detection"
    HELP = ""
    ICON = "dms2f.svg"

    # -- identity and help -------------------------------------------------------------------

    def tr(self, text: str) -> str:  # noqa: D102 - QGIS convention
        return QCoreApplication.translate(TR_CONTEXT, text)

    def createInstance(self) -> Dms2fAlgorithm:  # noqa: N802, D102 - QGIS API
        return type(self)()

    def name(self) -> str:  # noqa: D102 - QGIS API
        return self.NAME

    def displayName(self) -> str:  # noqa: N802, D102 - QGIS API
        return self.tr(self.DISPLAY_NAME)

    def group(self) -> str:  # noqa: D102 - QGIS API
        return self.tr(GROUPS[self.GROUP_ID])

    def groupId(self) -> str:  # noqa: N802, D102 - QGIS API
        return self.GROUP_ID

    def icon(self) -> QIcon:  # noqa: D102 - QGIS API
        return QIcon(self.svgIconPath())

    def svgIconPath(self) -> str:  # noqa: N802, D102 - QGIS API
        return str(ICONS_DIR / self.ICON)

    def shortHelpString(self) -> str:  # noqa: N802, D102 - QGIS API
        return self.tr(self.HELP)

    def helpString(self) -> str:  # noqa: N802, D102 - QGIS API
        return self.shortHelpString()

    def shortDescription(self) -> str:  # noqa: N802, D102 - QGIS API
        return self.shortHelpString().split("\n", 1)[0]

    # -- helpers for subclasses --------------------------------------------------------------

    @staticmethod
    def settings() -> settings.ProviderSettings:
        """The provider settings (defaults for device, threads, model folder)."""
        return settings.current()

    def check_raster(self, layer: QgsRasterLayer | None, min_bands: int = 1) -> str | None:
        """Return why ``layer`` cannot be read by the engine, or None when it can.

        Args:
            layer: the resolved input layer (None when the value did not resolve to a raster).
            min_bands: the fewest bands the algorithm needs.
        """
        if layer is None or not layer.isValid():
            return self.tr("The input is not a valid raster layer. Choose a raster file or a raster "
                           "layer read by GDAL.")
        if layer.providerType() != "gdal":
            return self.tr("Layer '{name}' comes from the '{provider}' data provider, but DMS2F-HAD "
                           "reads rasters through GDAL only. Save it as a GeoTIFF (right-click > "
                           "Export > Save As...) and use that file.").format(
                name=layer.name(), provider=layer.providerType())
        if layer.bandCount() < min_bands:
            return self.tr("Layer '{name}' has {count} band(s); this algorithm needs a "
                           "multi-band (hyperspectral) raster with at least {needed} bands.").format(
                name=layer.name(), count=layer.bandCount(), needed=min_bands)
        return None

    def add_advanced(self, parameter: QgsProcessingParameterDefinition) -> bool:
        """Add ``parameter`` flagged as an expert setting (under "Advanced Parameters")."""
        parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        return self.addParameter(parameter)

    def raster_source(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext,
                      min_bands: int = 1) -> str:
        """Resolve raster parameter ``name`` to the GDAL dataset name the engine opens.

        Raises:
            QgsProcessingException: when the layer is missing, not read by GDAL or has too few bands.
        """
        layer = self.parameterAsRasterLayer(parameters, name, context)
        problem = self.check_raster(layer, min_bands)
        if problem:
            raise QgsProcessingException(problem)
        # A GDAL layer's source is the GDAL dataset name, possibly followed by QGIS's own
        # "|option:..." open options, which GDAL itself does not parse.
        return layer.source().split("|", 1)[0]

    def check_input_raster(self, parameters: dict[str, Any], context: QgsProcessingContext,
                           name: str = "INPUT", min_bands: int = 1) -> tuple[bool, str]:
        """``checkParameterValues`` helper: the QGIS checks, the raster, then a ``BANDS`` list.

        Returns:
            ``(True, "")``, or ``(False, message)`` naming the problem and its fix.
        """
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        layer = self.parameterAsRasterLayer(parameters, name, context)
        problem = self.check_raster(layer, min_bands)
        if problem:
            return False, problem
        if self.parameterDefinition("BANDS") is None:
            return True, ""
        spec = self.parameterAsString(parameters, "BANDS", context).strip()
        if not spec:
            return True, ""
        try:
            selected = parse_band_list(spec, layer.bandCount())
        except ValueError as err:
            return False, self.tr("Bands '{spec}': {reason}").format(spec=spec, reason=err)
        if len(selected) < min_bands:
            return False, self.tr("Bands '{spec}' selects {count} band(s); select at least "
                                  "{needed}.").format(spec=spec, count=len(selected), needed=min_bands)
        return True, ""

    def engine_check(self, check: Callable[[], object]) -> tuple[bool, str]:
        """``checkParameterValues`` helper: run one of the engine's pre-checks.

        The engine's bounds and raster checks (``engine.app.preflight``) are the ones the run
        itself applies, so the dialog refuses a value with the same sentence, before the run.

        Returns:
            ``(True, "")``, or ``(False, message)`` with the engine's message in this dialog's
            words.
        """
        try:
            check()
        except Dms2fError as err:
            return False, self.in_qgis_words(str(err))
        return True, ""

    def dependency_problem(self) -> str | None:
        """Return what to install when the deep-learning dependencies are missing, else None."""
        from ... import private_env

        missing = private_env.missing_dependencies()
        if not missing:
            return None
        return self.tr("{algorithm} needs Python packages that are not installed: {missing}. Install "
                       "them with Plugins > DMS2F-HAD > Install Python dependencies…, or run:\n"
                       "{command}\nThey go into a private environment; QGIS's own packages are not "
                       "changed. The RX detector, thresholding and evaluation work without them.").format(
            algorithm=self.displayName(), missing=", ".join(missing), command=install_hint())

    def require_dependencies(self) -> None:
        """Raise when the deep-learning dependencies are missing (for runs that skip the checks).

        Raises:
            QgsProcessingException: naming the packages and the command that installs them.
        """
        problem = self.dependency_problem()
        if problem:
            raise QgsProcessingException(problem)

    def parameter_labels(self) -> dict[str, str]:
        """Parameter name -> its label in this algorithm's dialog."""
        return {d.name(): d.description() for d in self.parameterDefinitions()}

    def in_qgis_words(self, message: str) -> str:
        """An engine message with command-line flags replaced by this dialog's labels."""
        return qgis_words(message, self.parameter_labels())

    def input_layer_name(self, parameters: dict[str, Any], name: str,
                         context: QgsProcessingContext) -> str:
        """The name of the layer given as parameter ``name`` (its file's name for a path)."""
        layer = self.parameterAsLayer(parameters, name, context)
        return layer.name() if layer is not None else ""

    def name_output(self, context: QgsProcessingContext, output: str, parameter: str,
                    name: str) -> None:
        """Name the layer Processing loads for ``output``, e.g. "DMS2F-HAD score: san_diego_sample".

        Only a loaded output is named, and only when it carries the generic name (the
        parameter's label): a name a model's author chose is kept.
        """
        if not name or not context.willLoadLayerOnCompletion(output):
            return
        details = context.layerToLoadOnCompletionDetails(output)
        generic = self.parameterDefinition(parameter).description()
        if details.name in ("", generic):
            details.name = name

    # -- running the engine ------------------------------------------------------------------

    def run_engine(self, job: Callable[[FeedbackProgress], T],
                   feedback: QgsProcessingFeedback | None) -> T:
        """Run one engine call with progress, cancellation and logging wired to ``feedback``.

        Args:
            job: called with the progress adapter; returns the engine's result.
            feedback: the algorithm's feedback (QGIS may pass None).

        Returns:
            Whatever ``job`` returns.

        Raises:
            QgsProcessingException: for every failure, with a message the user can act on. Engine
                errors keep their own message; anything unexpected gets a bug-report hint and the
                diagnostics report, and its traceback goes to the log instead of crashing QGIS.
        """
        feedback = feedback or QgsProcessingFeedback()
        with feedback_logging(feedback, self.in_qgis_words):
            try:
                return job(FeedbackProgress(feedback))
            except Dms2fError as err:
                raise QgsProcessingException(self.in_qgis_words(str(err))) from err
            except QgsProcessingException:
                raise
            except Exception as err:  # noqa: BLE001 - never let a traceback reach QGIS
                feedback.pushDebugInfo(traceback.format_exc())
                message = self.tr("Unexpected error in {algorithm}: {error}").format(
                    algorithm=self.displayName(), error=f"{type(err).__name__}: {err}")
                hint = self.tr(TRACKER_HINT).format(tracker=plugin_metadata().get("tracker", ""))
                raise QgsProcessingException("\n\n".join((message, hint, diagnostics()))) from err



class NetworkAlgorithm(Dms2fAlgorithm):
    """Base of the algorithms that run the DMS2F-HAD network (they need torch & co)."""

    def checkParameterValues(self, parameters: dict[str, Any],  # noqa: N802
                             context: QgsProcessingContext) -> tuple[bool, str]:
        """Refuse early: missing dependencies, the input raster, then every value (engine checks)."""
        problem = self.dependency_problem()
        if problem:
            return False, problem
        ok, message = self.check_input_raster(parameters, context, min_bands=2)
        if not ok:
            return ok, message
        problem = p.local_window_problem(self, parameters, context)
        if problem:
            return False, problem
        return self.engine_check(lambda: self.preflight(parameters, context))

    def preflight(self, parameters: dict[str, Any], context: QgsProcessingContext) -> None:
        """Run the engine's checks of this algorithm's values (subclasses; raises Dms2fError)."""


def install_hint() -> str:
    """The shell command that creates the private environment with the missing packages."""
    from ... import deps

    try:
        python = str(deps.base_python())
    except FileNotFoundError:
        python = "python3"
    return f"{python} {Path(deps.__file__).resolve()} install"


def diagnostics() -> str:
    """The dependency diagnostics report, or a note when it cannot be produced."""
    try:
        from ... import diagnostics as report

        return report.diagnostics_report()
    except Exception as err:  # noqa: BLE001 - diagnostics must never hide the original error
        return f"(diagnostics unavailable: {type(err).__name__}: {err})"
