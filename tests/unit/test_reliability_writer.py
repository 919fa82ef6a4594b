"""The writer's transaction: all outputs of a run published or none, no temporary file left.

Real files in real folders; the failures are real too (a destination that turns into a folder
after the checks, a verifier that refuses, an exception mid-run). The operating system's own
errors (a full disk, a file-size limit, a sticky folder) are exercised end to end in
tests/integration/test_fault_injection.py.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from fault_support import leftovers

from dms2f_had.dms2f_plugin.engine.errors import OutputError
from dms2f_had.dms2f_plugin.engine.io.destinations import free_bytes, space_shortfall, write_failure
from dms2f_had.dms2f_plugin.engine.io.writer import Outputs, atomic_output

OLD_A, OLD_B = b"old a, kept byte for byte", b"old b, kept byte for byte"


@pytest.fixture
def finals(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(OLD_A)
    b.write_bytes(OLD_B)
    return a, b


def test_both_outputs_are_published_together(finals):
    a, b = finals
    with Outputs() as outputs:
        outputs.temp_for(a, sidecars=()).write_bytes(b"new a")
        temp_b = outputs.temp_for(b, sidecars=())
        temp_b.write_bytes(b"new b")
        assert a.read_bytes() == OLD_A  # nothing is published before the block ends
    assert (a.read_bytes(), b.read_bytes()) == (b"new a", b"new b")
    assert leftovers(a.parent) == []


def test_a_failed_second_rename_undoes_the_first(finals):
    a, b = finals
    with pytest.raises(OutputError) as info:
        with Outputs() as outputs:
            outputs.temp_for(a, sidecars=()).write_bytes(b"new a")
            outputs.temp_for(b, sidecars=()).write_bytes(b"new b")
            b.unlink()  # the destination turns into a non-empty folder after the checks
            b.mkdir()
            (b / "inside").write_bytes(b"x")
    message = str(info.value)
    assert "while replacing" in message and "b.bin" in message
    assert message.endswith(f"Not published either (a run's outputs go together): '{a}' (the "
                            "previous file was kept).")
    assert a.read_bytes() == OLD_A and b.is_dir()
    assert leftovers(a.parent) == []


def test_a_failed_verification_publishes_nothing(finals):
    a, b = finals

    def refuse(temp: Path) -> None:
        raise ValueError("checksum mismatch")

    with pytest.raises(OutputError, match="b.bin' .*does not read back: checksum mismatch") as info:
        with Outputs() as outputs:
            outputs.temp_for(a, sidecars=()).write_bytes(b"new a")
            outputs.temp_for(b, sidecars=(), verify=refuse).write_bytes(b"new b")
    assert f"Not published either (a run's outputs go together): '{a}'" in str(info.value)
    assert (a.read_bytes(), b.read_bytes()) == (OLD_A, OLD_B)
    assert leftovers(a.parent) == []


@pytest.mark.parametrize("exception", [RuntimeError("boom"), KeyboardInterrupt()])
def test_an_exception_or_interrupt_mid_run_removes_every_temporary_file(finals, exception):
    a, b = finals
    with pytest.raises(type(exception)):
        with Outputs() as outputs:
            outputs.temp_for(a).write_bytes(b"new a")
            Path(f"{outputs.temp_for(b)}.aux.xml").write_bytes(b"sidecar")
            raise exception
    assert (a.read_bytes(), b.read_bytes()) == (OLD_A, OLD_B)
    assert leftovers(a.parent) == []


def test_a_missing_temporary_file_is_an_error_not_an_empty_output(finals):
    a, _ = finals
    with pytest.raises(OutputError, match="Nothing was written to .*a.bin"):
        with atomic_output(a):
            pass
    assert a.read_bytes() == OLD_A


def test_a_plain_write_error_to_a_temporary_file_names_the_output(finals):
    a, _ = finals
    with pytest.raises(OutputError, match="Is a directory while writing .*a.bin'; the previous file "
                                          "was kept"):
        with atomic_output(a, sidecars=()) as temp:
            temp.mkdir()
            open(temp, "wb").close()  # noqa: SIM115 - the failing write itself
    assert a.read_bytes() == OLD_A and leftovers(a.parent) == []


@pytest.mark.parametrize("code, reason, fix", [
    (errno.ENOSPC, "No space left on device", "free some disk space"),
    (errno.EFBIG, "File too large", "ulimit -f"),
    (errno.EACCES, "Permission denied", "choose a folder you can write to"),
])
def test_failure_messages_name_the_os_reason_and_the_fix(tmp_path, code, reason, fix):
    final = tmp_path / "out.tif"
    message = str(write_failure(final, OSError(code, "ignored")))
    assert message.startswith(f"{reason} while writing '{final}'; no file was written. Fix: ")
    assert fix in message


def test_gdal_reasons_name_the_output_not_the_temporary_file(tmp_path):
    final, temp = tmp_path / "out.tif", tmp_path / ".out.1234.tmp.tif"
    message = str(write_failure(final, f"{temp}: WriteEncodedTile/Strip() failed.", temp))
    assert ".tmp" not in message and "WriteEncodedTile" in message
    assert not temp.exists()  # probing for the OS's reason leaves nothing behind


def test_a_folder_short_of_space_is_named_before_the_work(tmp_path):
    free = free_bytes(tmp_path)
    assert free is not None and free > 0
    out = tmp_path / "score.tif"
    assert space_shortfall(out, free // 2, "the score") is None
    line = space_shortfall(out, free + 2**40, "the score and its 3 temporary maps")
    assert line is not None and "\n" not in line
    assert f"beside '{out}'" in line and "the score and its 3 temporary maps need up to" in line
    assert "choose a folder on another disk" in line


def test_intermediates_do_not_name_each_other_in_a_failure(finals):
    a, b = finals

    def refuse(temp: Path) -> None:
        raise ValueError("checksum mismatch")

    with pytest.raises(OutputError) as info:
        with Outputs(announce=False) as outputs:  # temporary maps the user never named
            outputs.temp_for(a, sidecars=()).write_bytes(b"new a")
            outputs.temp_for(b, sidecars=(), verify=refuse).write_bytes(b"new b")
    assert "Not published either" not in str(info.value) and "b.bin" in str(info.value)
