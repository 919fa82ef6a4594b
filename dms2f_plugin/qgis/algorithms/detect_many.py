"""``dms2f:detect_many``: a campaign of rasters, one Dask task per raster, from QGIS.

The algorithm is a Dask client: it runs in Processing's background task like every algorithm
(the map canvas stays responsive), while the scenes run in worker processes of a local cluster
on this computer or on the cluster of a scheduler address. Progress advances per scene, each
finished or failed scene is logged, and Cancel stops the running scenes within one tile or
fitting step, leaving no partial file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputFile,
    QgsProcessingOutputMultipleLayers,
    QgsProcessingOutputNumber,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QT_TRANSLATE_NOOP

from ..styling import OutputKind, write_sidecar
from . import parameters as p
from .base import Dms2fAlgorithm
from .detect_anomalies import PRESETS

INPUTS = "INPUTS"
METHOD = "METHOD"
PRESET = "PRESET"
THRESHOLD = "THRESHOLD"
SAVE_MODELS = "SAVE_MODELS"
RESUME = "RESUME"
SCHEDULER = "SCHEDULER"
WORKERS = "WORKERS"
OUTPUT_FOLDER = "OUTPUT_FOLDER"
SUMMARY = "SUMMARY"
SCORES = "SCORES"
DONE = "DONE"
FAILED = "FAILED"

#: Engine method, preset and threshold per enum option.
METHODS = ("dms2f", "rx", "lrx")
THRESHOLDS = (None, "percentile", "sigma", "otsu")


class DetectManyAlgorithm(Dms2fAlgorithm):
    """A campaign: detect anomalies in many rasters on a Dask cluster, one task per raster."""

    NAME = "detect_many"
    DISPLAY_NAME = QT_TRANSLATE_NOOP("Dms2fAlgorithm", "Detect anomalies in many rasters")
    GROUP_ID = "detection"
    HELP = QT_TRANSLATE_NOOP(
        "Dms2fAlgorithm",
        "Detects anomalies in every raster of a campaign (flight lines, tiles of a mosaic) in "
        "parallel: each raster is one task on a Dask cluster, a local one on this computer by "
        "default. Each raster gets the same processing as 'Detect anomalies (DMS2F-HAD)' or the "
        "RX detector.\n\n"
        "<b>Hyperspectral rasters</b>: the rasters of the campaign (any GDAL format).\n"
        "<b>Detector</b>: DMS2F-HAD (fitted to each raster), global RX or local RX.\n"
        "<b>Bands</b>: optional 1-based selection such as 1-10,15, the same for every raster; "
        "empty uses all bands.\n"
        "<b>Preset</b> and <b>Device</b>: as in 'Detect anomalies (DMS2F-HAD)'.\n"
        "<b>Threshold into detections</b>: optionally also a mask and detection polygons per "
        "raster.\n"
        "<b>Save the fitted models</b>: keep each raster's fitted DMS2F-HAD model.\n"
        "<b>Skip rasters already complete in the output folder</b>: a raster whose outputs are "
        "complete from an earlier run with the same settings is not run again, so a campaign "
        "that stopped continues where it stopped.\n"
        "<b>Random seed</b> and <b>Fitting steps</b> (advanced): as in 'Detect anomalies "
        "(DMS2F-HAD)'; 0 steps keeps the preset's fixed number.\n"
        + p.LOCAL_WINDOW_HELP + p.KEEP_ALL_BANDS_HELP + p.TILE_SIZE_HELP +
        "<b>Dask scheduler address</b> (advanced): empty starts a local cluster sized to this "
        "computer's cores and memory; an address such as tcp://host:8786 hands the campaign to "
        "that cluster, whose workers must see the rasters and the output folder at the same "
        "paths.\n"
        "<b>Local workers</b> (advanced): worker processes of the local cluster; 0 lets the "
        "plugin choose.\n"
        "<b>Output folder</b>: per raster &lt;name&gt;_score.tif (and &lt;name&gt;_model, "
        "_mask, _detections when asked for) and &lt;name&gt;_manifest.json, plus "
        "campaign_summary.csv and campaign_summary.json (status, time, peak memory, detections, "
        "error of every raster). A raster that fails is reported and the others go on. "
        "Requires the Python packages dask and distributed (installed with the plugin's "
        "dependencies); DMS2F-HAD also needs PyTorch.")

    def initAlgorithm(self, config: dict[str, Any] | None = None) -> None:  # noqa: N802, D102
        defaults = self.settings()
        self.addParameter(QgsProcessingParameterMultipleLayers(
            INPUTS, self.tr("Hyperspectral rasters"), QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterEnum(
            METHOD, self.tr("Detector"),
            options=[self.tr("DMS2F-HAD"), self.tr("Global RX"), self.tr("Local RX (dual window)")],
            defaultValue=0))
        self.addParameter(p.bands())
        self.addParameter(QgsProcessingParameterEnum(
            PRESET, self.tr("Preset (DMS2F-HAD)"),
            options=[self.tr("Fast (CPU friendly)"), self.tr("Paper (as published, GPU recommended)")],
            defaultValue=0))
        self.addParameter(p.device(defaults))
        self.addParameter(QgsProcessingParameterEnum(
            THRESHOLD, self.tr("Threshold into detections"),
            options=[self.tr("No"), self.tr("Top 0.5 % of the scores"), self.tr("Mean + 3 sigma"),
                     self.tr("Otsu")], defaultValue=0))
        self.addParameter(QgsProcessingParameterBoolean(
            SAVE_MODELS, self.tr("Save the fitted models (DMS2F-HAD)"), defaultValue=False))
        self.addParameter(QgsProcessingParameterBoolean(
            RESUME, self.tr("Skip rasters already complete in the output folder"),
            defaultValue=False))
        self.add_advanced(p.seed())
        self.add_advanced(p.steps())
        self.add_advanced(p.local_window())
        self.add_advanced(p.keep_all_bands())
        self.add_advanced(p.tile_size())
        self.add_advanced(QgsProcessingParameterString(
            SCHEDULER, self.tr("Dask scheduler address (empty: a local cluster on this computer)"),
            defaultValue="", optional=True))
        self.add_advanced(QgsProcessingParameterNumber(
            WORKERS, self.tr("Local workers (0: as many as the cores and memory allow)"),
            QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0, maxValue=1024))
        self.addParameter(QgsProcessingParameterFolderDestination(
            OUTPUT_FOLDER, self.tr("Output folder")))
        self.addOutput(QgsProcessingOutputFile(SUMMARY, self.tr("Campaign summary (CSV)")))
        self.addOutput(QgsProcessingOutputMultipleLayers(SCORES, self.tr("Anomaly scores")))
        self.addOutput(QgsProcessingOutputNumber(DONE, self.tr("Rasters done")))
        self.addOutput(QgsProcessingOutputNumber(FAILED, self.tr("Rasters failed")))

    def checkParameterValues(self, parameters: dict[str, Any],  # noqa: N802
                             context: QgsProcessingContext) -> tuple[bool, str]:
        """The packages a campaign needs, then every raster and the band list."""
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        problem = self._package_problem(parameters, context)
        if problem:
            return False, problem
        layers = self.parameterAsLayerList(parameters, INPUTS, context)
        if not layers:
            return False, self.tr("Choose at least one hyperspectral raster.")
        for layer in layers:
            problem = self.check_raster(layer, min_bands=2)
            if problem:
                return False, problem
        return True, ""

    def _package_problem(self, parameters: dict[str, Any],
                         context: QgsProcessingContext) -> str | None:
        from ... import private_env
        from .base import install_hint

        missing = private_env.missing_dependencies(private_env.CLUSTER)
        if METHODS[self.parameterAsEnum(parameters, METHOD, context)] == "dms2f":
            missing += private_env.missing_dependencies()
        if not missing:
            return None
        return self.tr("{algorithm} needs Python packages that are not installed: {missing}. "
                       "Install them with Plugins > DMS2F-HAD > Install Python dependencies, or "
                       "run:\n{command}").format(algorithm=self.displayName(),
                                                  missing=", ".join(missing),
                                                  command=install_hint())

    def processAlgorithm(self, parameters: dict[str, Any], context: QgsProcessingContext,  # noqa: N802
                         feedback: QgsProcessingFeedback) -> dict[str, Any]:
        """Run the campaign through the engine; style and report every score."""
        problem = self._package_problem(parameters, context)
        if problem:
            raise QgsProcessingException(problem)
        from ...engine.app.batch import batch
        from ...engine.app.campaign import DetectOptions
        from ...engine.app.cluster import ClusterRequest

        sources = [layer.source().split("|", 1)[0]
                   for layer in self.parameterAsLayerList(parameters, INPUTS, context)]
        folder = self.parameterAsString(parameters, OUTPUT_FOLDER, context)
        Path(folder).mkdir(parents=True, exist_ok=True)
        method = METHODS[self.parameterAsEnum(parameters, METHOD, context)]
        options = DetectOptions(
            method=method, bands=p.bands_value(self, parameters, context),
            keep_all_bands=self.parameterAsBool(parameters, p.KEEP_ALL_BANDS, context),
            preset=PRESETS[self.parameterAsEnum(parameters, PRESET, context)],
            device=p.device_value(self, parameters, context),
            seed=self.parameterAsInt(parameters, p.SEED, context),
            steps=self.parameterAsInt(parameters, p.STEPS, context) or None,
            local_window=p.local_window_value(self, parameters, context),
            tile_size=self.parameterAsInt(parameters, p.TILE_SIZE, context),
            save_model=method == "dms2f" and self.parameterAsBool(parameters, SAVE_MODELS, context),
            threshold=THRESHOLDS[self.parameterAsEnum(parameters, THRESHOLD, context)])
        address = self.parameterAsString(parameters, SCHEDULER, context).strip()
        workers = self.parameterAsInt(parameters, WORKERS, context)
        cluster = ClusterRequest(scheduler=address or None,
                                 workers=None if address or workers == 0 else workers,
                                 python=None if address else worker_python())
        report = SceneReport(self, feedback)
        result = self.run_engine(lambda progress: batch(
            sources, folder, options=options, cluster=cluster,
            resume=self.parameterAsBool(parameters, RESUME, context), progress=progress,
            listener=report), feedback)
        scores = [o.score for o in result.outcomes if o.score and o.status in ("done", "skipped")]
        for score in scores:
            write_sidecar(score, OutputKind.SCORE)
        failed = result.failed
        if failed and len(failed) == len(result.outcomes):
            raise QgsProcessingException(self.tr("Every raster failed; the first: {name}: "
                                                 "{error}").format(name=failed[0].name,
                                                                   error=failed[0].error))
        feedback.pushInfo(self.tr("Campaign finished in {seconds:.1f} s: {done} done, {failed} "
                                  "failed, {skipped} skipped; summary {summary}").format(
            seconds=result.seconds, done=sum(o.status == "done" for o in result.outcomes),
            failed=len(failed), skipped=sum(o.status == "skipped" for o in result.outcomes),
            summary=result.summary_csv))
        return {OUTPUT_FOLDER: folder, SUMMARY: str(result.summary_csv), SCORES: scores,
                DONE: sum(o.status == "done" for o in result.outcomes), FAILED: len(failed)}


class SceneReport:
    """Logs a campaign's updates to the Processing feedback (the engine's ``batch.Listener``)."""

    def __init__(self, algorithm: Dms2fAlgorithm, feedback: QgsProcessingFeedback) -> None:
        self._alg, self._feedback = algorithm, feedback
        self._started = False

    def __call__(self, status: Any) -> None:
        """Log the start, then every finished or failed raster."""
        tr = self._alg.tr
        if not self._started:
            self._started = True
            where = status.cluster or tr("this computer, one raster after the other")
            self._feedback.pushInfo(tr("{count} raster(s) on {where}").format(
                count=status.total, where=where))
            if status.dashboard:
                self._feedback.pushInfo(tr("Dask dashboard: {url}").format(url=status.dashboard))
            if status.skipped:
                self._feedback.pushInfo(tr("{count} raster(s) already complete: skipped").format(
                    count=status.skipped))
        outcome = status.finished
        if outcome is None:
            return
        if outcome.status == "failed":
            self._feedback.reportError(tr("{name} failed: {error}").format(
                name=outcome.name, error=outcome.error), False)
        else:
            self._feedback.pushInfo(tr("{name} done in {seconds:.1f} s ({settled} of {total})").format(
                name=outcome.name, seconds=outcome.seconds or 0.0, settled=status.settled,
                total=status.total))


def worker_python() -> str | None:
    """The Python interpreter for local worker processes (None: ``sys.executable`` is right).

    Workers are new processes that must run the interpreter QGIS embeds, with the packages of
    the private environment. Inside QGIS ``sys.executable`` is QGIS itself, or whatever
    ``python3`` comes first on ``PATH`` (possibly another Python build). So: the private
    environment's interpreter when one was activated (made from QGIS's own Python, it sees the
    same standard library and holds dask, torch and the rest); else ``sys.executable`` when it
    is this very Python; else the interpreter in ``sys.base_prefix``.
    """
    from ... import deps, private_env

    activation = private_env.LAST_ACTIVATION
    if activation is not None and activation.env is not None:
        python = deps.env_python(activation.env)
        if python.is_file():
            return str(python)
    if _is_this_python(sys.executable):
        return None
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = Path(sys.base_prefix)
    for candidate in (base / "bin" / f"python{version}", base / "bin" / "python3",
                      base / "python.exe"):
        if candidate.is_file():
            return str(candidate)
    return None


def _is_this_python(executable: str) -> bool:
    """True when ``executable`` is a Python of this installation (inside its prefixes)."""
    if not executable or not Path(executable).name.lower().startswith("python"):
        return False
    real = Path(executable).resolve()
    return any(Path(prefix).resolve() in real.parents for prefix in (sys.prefix, sys.base_prefix))
