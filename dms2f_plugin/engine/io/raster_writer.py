"""The GeoTIFF writer of every raster output: score maps, masks, imported cubes and ground truths.

A :class:`RasterWriter` fills a tiled, DEFLATE-compressed GeoTIFF window by window under the
protocol of :mod:`.writer`: it writes a temporary sibling, checks every GDAL call in either
exceptions mode (including the errors GDAL reports only while it flushes and closes the file,
where a full disk shows up), and verifies the closed file by reopening it and reading its last
block before the file is published, alone or with the run's other outputs.

Score rasters are float32 with NaN as nodata (NaN can never be a real score, QGIS reads NaN
nodata, and no sentinel like -9999 can collide with a valid value). Masks are uint8: 1 anomaly,
0 background, 255 nodata.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from osgeo import gdal, gdal_array

from ..errors import Dms2fError
from ..types import PathLike
from .destinations import write_failure
from .gdalutil import GdalCallError, closing_errors, gdal_call, open_gdal
from .rasterinfo import RasterInfo
from .window import Window
from .writer import Outputs

__all__ = ["MASK_NODATA", "SCORE_NODATA", "RasterWriter", "mask_writer", "score_writer"]

SCORE_NODATA = float("nan")
MASK_NODATA = 255


class RasterWriter:
    """A tiled, compressed GeoTIFF filled window by window, checked, verified and published.

    Use as a context manager: leaving the block normally closes the file (checking what GDAL
    reports when it writes its last blocks) and publishes it, or hands it to the run's
    :class:`Outputs`; an exception removes the temporary file and leaves the target untouched.
    """

    def __init__(self, path: PathLike, *, width: int, height: int, dtype: str,
                 nodata: float | None, crs_wkt: str | None,
                 geotransform: Sequence[float] | None, description: str = "",
                 metadata: dict[str, str] | None = None, block: int = 256, bands: int = 1,
                 outputs: Outputs | None = None) -> None:
        """Create the temporary GeoTIFF.

        Args:
            path: final output path (validate it first with :func:`validate_output_path`).
            width: columns.
            height: rows.
            dtype: numpy type name; floats get DEFLATE + floating-point predictor 3, integers
                DEFLATE + horizontal predictor 2.
            nodata: nodata value written in the header, or None.
            crs_wkt: full WKT copied verbatim (custom CRSs kept), or None.
            geotransform: 6 GDAL terms incl. rotation, or None for a local pixel grid.
            description: band description (every band).
            metadata: dataset metadata items (method, parameters, ...).
            block: GeoTIFF tile edge in pixels.
            bands: number of bands (pixel-interleaved).
            outputs: the run's transaction when this raster is published with other outputs.

        Raises:
            OutputError: GDAL cannot create the file or set its georeferencing.
        """
        self.path = Path(path)
        self._own = outputs is None
        self._outputs = outputs if outputs is not None else Outputs()
        self._shape = (bands, height, width)
        self._temp = self._outputs.temp_for(self.path, verify=self._verify)
        self._dtype = np.dtype(dtype)
        predictor = "3" if self._dtype.kind == "f" else "2"
        options = ["TILED=YES", f"BLOCKXSIZE={block}", f"BLOCKYSIZE={block}", "COMPRESS=DEFLATE",
                   f"PREDICTOR={predictor}", "BIGTIFF=IF_SAFER", "INTERLEAVE=PIXEL"]
        gdal_type = gdal_array.NumericTypeCodeToGDALTypeCode(self._dtype)
        self._ds: gdal.Dataset | None = None
        try:
            self._ds = gdal_call(gdal.GetDriverByName("GTiff").Create, str(self._temp), width,
                                 height, bands, gdal_type, options)
            if self._ds is None:
                raise GdalCallError("the GeoTIFF driver could not create it")
            if crs_wkt:
                gdal_call(self._ds.SetProjection, crs_wkt)
            if geotransform is not None:
                gdal_call(self._ds.SetGeoTransform, tuple(geotransform))
            for index in range(1, bands + 1):
                band = self._ds.GetRasterBand(index)
                if nodata is not None:
                    gdal_call(band.SetNoDataValue, nodata)
                if description:
                    band.SetDescription(description)
            if metadata:
                gdal_call(self._ds.SetMetadata, {k: str(v) for k, v in metadata.items()})
        except GdalCallError as failure:
            error = write_failure(self.path, failure.reason, self._temp)
            self.abort()
            raise error from None

    def write(self, window: Window, array: np.ndarray) -> None:
        """Write ``array`` at ``window``: ``(h, w)`` for one band or ``(bands, h, w)``.

        Raises:
            OutputError: GDAL reports a write failure (the message names the OS's reason).
        """
        if array.shape[-2:] != window.shape or (array.ndim == 3 and array.shape[0] != self._shape[0]):
            raise ValueError(f"array {array.shape} does not match {window} x {self._shape[0]} bands")
        ds = self._dataset()
        data = array.astype(self._dtype, copy=False)
        reason = None
        try:
            if data.ndim == 2:
                gdal_call(ds.GetRasterBand(1).WriteArray, data, window.col_off, window.row_off)
            else:
                gdal_call(ds.WriteArray, data, window.col_off, window.row_off)
        except GdalCallError as failure:
            reason = failure.reason
        # Raised outside the handler and without this frame's reference: the failed call's
        # traceback would keep the dataset alive until exit, where closing it prints GDAL errors.
        del ds
        if reason is not None:
            raise write_failure(self.path, reason, self._temp)

    def close(self) -> None:
        """Flush and close the temporary file, checking what GDAL reports while it does.

        Raises:
            OutputError: the last blocks could not be written (full disk, ...).
        """
        ds = self._dataset()
        reason = None
        try:
            gdal_call(ds.FlushCache)
        except GdalCallError as failure:
            reason = failure.reason
        with closing_errors() as errors:
            self._ds = ds = None
        if reason is None and errors:
            reason = errors[0]
        if reason is not None:
            raise write_failure(self.path, reason, self._temp)

    def commit(self) -> Path:
        """Close the file; publish it now, or leave that to the run's :class:`Outputs`."""
        try:
            self.close()
        except BaseException:
            self.abort()
            raise
        if self._own:
            self._outputs.commit()
        return self.path

    def abort(self) -> None:
        """Drop the temporary file; the output path is left as it was."""
        with closing_errors():
            self._ds = None
        if self._own:
            self._outputs.abort()

    def _dataset(self) -> gdal.Dataset:
        if self._ds is None:
            raise ValueError(f"the writer of '{self.path}' is already closed")
        return self._ds

    def _verify(self, temp: Path) -> None:
        """Reopen the closed file; check its size and read the last block of the first and last band.

        Raises:
            OutputError: the file does not open, has another size, or a block cannot be read.
        """
        bands, height, width = self._shape
        try:
            ds = open_gdal(str(temp))
        except Dms2fError as exc:
            raise write_failure(self.path, str(exc), temp) from None
        if (ds.RasterCount, ds.RasterYSize, ds.RasterXSize) != self._shape:
            raise write_failure(self.path, f"the written file is {ds.RasterXSize} x "
                                f"{ds.RasterYSize} x {ds.RasterCount}, not {width} x {height} x "
                                f"{bands}", temp)
        for index in sorted({1, bands}):
            band = ds.GetRasterBand(index)
            block_w, block_h = band.GetBlockSize()
            col, row = (width - 1) // block_w * block_w, (height - 1) // block_h * block_h
            try:
                gdal_call(band.ReadRaster, col, row, width - col, height - row)
            except GdalCallError as failure:
                raise write_failure(self.path, f"reading it back failed: {failure.reason}",
                                    temp) from None

    def __enter__(self) -> RasterWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def score_writer(path: PathLike, like: RasterInfo, *, description: str = "anomaly score",
                 metadata: dict[str, str] | None = None,
                 outputs: Outputs | None = None) -> RasterWriter:
    """A float32 score writer on the grid of ``like`` (CRS, geotransform), NaN nodata."""
    return RasterWriter(path, width=like.width, height=like.height, dtype="float32",
                        nodata=SCORE_NODATA, crs_wkt=like.crs_wkt, geotransform=like.geotransform,
                        description=description, metadata=metadata, outputs=outputs)


def mask_writer(path: PathLike, like: RasterInfo, *, description: str = "anomaly mask",
                metadata: dict[str, str] | None = None,
                outputs: Outputs | None = None) -> RasterWriter:
    """A uint8 mask writer (1 anomaly, 0 background, 255 nodata) on the grid of ``like``."""
    return RasterWriter(path, width=like.width, height=like.height, dtype="uint8",
                        nodata=MASK_NODATA, crs_wkt=like.crs_wkt, geotransform=like.geotransform,
                        description=description, metadata=metadata, outputs=outputs)
