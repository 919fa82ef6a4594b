"""numpy 2 (QGIS 3.40 on Debian 13 ships it): no API it removed or deprecated, and warnings raised
in the plugin's own modules fail the tests."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: numpy names removed or deprecated by numpy 2 (NEP 52 and the 2.0 deprecations).
NUMPY2_GONE = ("trapz", "in1d", "row_stack", "product", "cumproduct", "sometrue", "alltrue",
               "asfarray", "find_common_type", "round_", "float_", "complex_", "NaN", "Inf",
               "PINF", "NINF", "infty", "string_", "unicode_", "msort", "cast", "source",
               "lookfor", "set_string_function", "deprecate", "safe_eval", "recfromcsv",
               "recfromtxt", "disp", "issubclass_", "obj2sctype", "sctype2char", "maximum_sctype",
               "int0", "uint0", "bool8", "longfloat", "singlecomplex", "cfloat", "clongfloat",
               "longcomplex", "Infinity", "NZERO", "PZERO", "geterrobj", "seterrobj", "add_newdoc_ufunc",
               "compare_chararrays", "format_parser", "tracemalloc_domain", "who", "byte_bounds")
_GONE = re.compile(r"\b(?:np|numpy)\.(" + "|".join(NUMPY2_GONE) + r")\b(?!_)")


def python_files() -> list[Path]:
    folders = ("dms2f_plugin", "models", "scripts", "benchmarks", "tests")
    return [path for folder in folders for path in (ROOT / folder).rglob("*.py")
            if "__pycache__" not in path.parts]


def test_no_numpy_api_that_numpy_2_removed_or_deprecated():
    found = []
    for path in python_files():
        if path == Path(__file__):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            found += [f"{path.relative_to(ROOT)}:{number}: np.{m}" for m in _GONE.findall(line)]
    assert found == []


def test_the_scan_finds_a_removed_name():
    assert _GONE.findall("area = np.trapz(y, x); keep = np.in1d(a, b); np.product_like(z)") == [
        "trapz", "in1d"]


def test_warnings_in_the_plugins_modules_fail_the_tests():
    """pyproject's filterwarnings: the plugin's own warnings are errors, third-party ones are not."""
    with pytest.raises(DeprecationWarning):
        warnings.warn_explicit("old call", DeprecationWarning, "x.py", 1,
                               module="dms2f_had.dms2f_plugin.engine.products.evaluate")
    with pytest.warns(DeprecationWarning):
        warnings.warn_explicit("old call", DeprecationWarning, "x.py", 1, module="numpy.core.fromnumeric")
