"""Office Open XML packages (DOCX, PPTX): the zip-bomb guard, and the errors of a damaged package.

`_check_zip` runs before python-docx or python-pptx reads any part; `_ooxml_errors` are the
exceptions those parsers raise on a damaged package (lxml is imported when they are asked for).
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from smartcourse.ai.extract.errors import CorruptDocument, DocumentTooLarge
from smartcourse.ai.extract.limits import _MIB, ExtractionLimits


def _check_zip(data: bytes, limits: ExtractionLimits) -> None:
    """Zip-bomb guard, before the document parser reads any part.

    1. The declared sizes (central directory): member count, total, compression ratios.
    2. The real sizes: every member's DEFLATE stream is inflated in bounded steps (at most 1 MiB of
       output held at a time) and counted; a member that inflates beyond its declared size is
       refused, so the declared total is a true bound. (The declared sizes alone are not a
       bound: CPython's ``ZipFile.read`` inflates a member's whole stream in one call before
       truncating it to the declared size, so a member declaring 2 KB that inflates to 1 GB costs
       1 GB of memory.)
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise CorruptDocument("the Office document's zip container is damaged") from exc
    if len(infos) > limits.max_zip_members:
        raise DocumentTooLarge(
            f"the document's package holds {len(infos)} parts; the limit is {limits.max_zip_members}"
        )
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if total > limits.max_zip_uncompressed_bytes:
        raise DocumentTooLarge(
            f"the document unpacks to {total / _MIB:.0f} MiB; the limit is "
            f"{limits.max_zip_uncompressed_bytes / _MIB:.0f} MiB"
        )
    for info in infos:
        if info.file_size > _MIB and info.file_size > limits.max_zip_compression_ratio * max(info.compress_size, 1):
            raise DocumentTooLarge(
                f"part {info.filename!r} has a compression ratio over {limits.max_zip_compression_ratio:.0f}:1 "
                "(possible zip bomb)"
            )
    if total > _MIB and total > limits.max_zip_compression_ratio * max(packed, 1):
        raise DocumentTooLarge(
            f"the document has a compression ratio over {limits.max_zip_compression_ratio:.0f}:1 (possible zip bomb)"
        )
    # Every member inflating to at most its declared size makes the declared total (checked above)
    # a true bound on what the parser will inflate.
    for info in infos:
        if _inflated_size(data, info, cap=info.file_size) > info.file_size:
            raise DocumentTooLarge(
                f"part {info.filename!r} is too large when decompressed: it inflates beyond the "
                f"{info.file_size:,} bytes it declares (possible zip bomb)"
            )


_INFLATE_STEP = _MIB


def _inflated_size(data: bytes, info: zipfile.ZipInfo, *, cap: int) -> int:
    """How many bytes `info`'s stored data inflates to, counting at most ``cap + 1`` (so a bomb is
    measured only up to the point where it is known to be one). Raises `CorruptDocument` for a
    member that cannot be located or decoded."""
    offset = info.header_offset
    header = data[offset:offset + 30]
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise CorruptDocument("the Office document's zip container is damaged")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    start = offset + 30 + name_len + extra_len
    raw = memoryview(data)[start:start + info.compress_size]
    if info.compress_type == zipfile.ZIP_STORED:
        return len(raw)
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise CorruptDocument(f"part {info.filename!r} uses a compression method Office documents do not use")
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    pending: bytes | memoryview = raw
    try:
        while total <= cap:
            out = inflater.decompress(pending, _INFLATE_STEP)
            total += len(out)
            pending = inflater.unconsumed_tail
            if inflater.eof or (not pending and not out):
                break
    except zlib.error as exc:
        raise CorruptDocument(f"part {info.filename!r} of the Office document is damaged") from exc
    return total


def _ooxml_errors() -> tuple[type[BaseException], ...]:
    from lxml.etree import LxmlError

    return (
        zipfile.BadZipFile,
        KeyError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        OSError,
        EOFError,
        LxmlError,
        UnicodeDecodeError,
    )
