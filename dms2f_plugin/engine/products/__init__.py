"""Products made from a finished score map.

Thresholds and masks (:mod:`.threshold`), detection
polygons (:mod:`.polygons`), evaluation against ground truth (:mod:`.evaluate`, which puts the
ground truth on the score's grid or refuses it with :mod:`.ground_truth`), the HTML report
and ROC plot (:mod:`.report`) and the PNG quicklook (:mod:`.quicklook`).

May import: numpy, scipy, scikit-image, GDAL/OGR, matplotlib (lazily), the foundation modules and
:mod:`..io`; never :mod:`..detectors` (a score map is a file, whoever made it) or :mod:`..app`.
"""
