"""The formats table: parsing, refusals with the list of what works (no torch needed)."""

import pytest

from edgedistill.export.formats import FORMATS, check_supported, describe, parse_formats


def test_parse_formats_accepts_comma_list_and_deduplicates():
    assert parse_formats("onnx, tflite,onnx") == ("onnx", "tflite")
    assert parse_formats(["tflite"]) == ("tflite",)


@pytest.mark.parametrize("bad", ["coreml", "onnx,tf", ""])
def test_unknown_or_empty_format_lists_the_known_ones(bad):
    with pytest.raises(ValueError, match="onnx, tflite"):
        parse_formats(bad)


def test_unsupported_combinations_are_refused():
    with pytest.raises(ValueError, match="unknown export kind"):
        check_supported("detector", ("onnx",), ("fp32",))
    with pytest.raises(ValueError, match="precision"):
        check_supported("classifier", ("onnx",), ("fp16",))
    check_supported("generator", tuple(FORMATS), ("fp32", "int8"))


def test_describe_has_one_row_per_format():
    rows = describe()
    assert [r[0] for r in rows] == list(FORMATS)
    assert all(FORMATS[r[0]].filename("int8").endswith(r[1]) for r in rows)
