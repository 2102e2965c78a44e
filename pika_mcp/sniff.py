"""Content type by content: images and videos recognised from their first bytes, nothing else (no dependencies)."""

from __future__ import annotations

SNIFF_BYTES = 64  # every signature below, and up to 10 compatible brands of an ISO `ftyp` box, fit in this

# ISO base media files (MP4, MOV, AVIF, HEIC) name their brands in the `ftyp` box that opens them.
_ISO_BRANDS: dict[bytes, str] = {
    b"avif": "image/avif", b"avis": "image/avif",
    b"heic": "image/heic", b"heix": "image/heic", b"heim": "image/heic", b"heis": "image/heic",
    b"hevc": "image/heic", b"hevx": "image/heic",
    b"qt  ": "video/quicktime",
    b"isom": "video/mp4", b"iso2": "video/mp4", b"iso3": "video/mp4", b"iso4": "video/mp4", b"iso5": "video/mp4",
    b"iso6": "video/mp4", b"mp41": "video/mp4", b"mp42": "video/mp4", b"avc1": "video/mp4", b"dash": "video/mp4",
    b"MSNV": "video/mp4", b"mmp4": "video/mp4", b"f4v ": "video/mp4", b"M4V ": "video/mp4", b"M4VH": "video/mp4",
    b"M4VP": "video/mp4", b"XAVC": "video/mp4",
    b"3gp4": "video/3gpp", b"3gp5": "video/3gpp", b"3gp6": "video/3gpp", b"3g2a": "video/3gpp2",
}  # fmt: skip
# Brands that say only "an image file of some kind" (HEIF's structure): the compatible brands decide.
_GENERIC_IMAGE_BRANDS = (b"mif1", b"msf1")
_BMP_HEADER_SIZES = (12, 40, 52, 56, 64, 108, 124)
_WEBP_CHUNKS = (b"VP8 ", b"VP8L", b"VP8X")
_JPEG_MARKERS = frozenset([*range(0xE0, 0xF0), 0xC0, 0xC1, 0xC2, 0xC4, 0xDB, 0xDD, 0xFE])  # APPn, frame, tables, comment


def sniff(head: bytes) -> str | None:
    """The MIME type of an image or video from its first SNIFF_BYTES bytes, or None for anything else."""
    if head.startswith(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"):
        return "image/png"
    if head[:3] == b"\xff\xd8\xff" and len(head) >= 4 and head[3] in _JPEG_MARKERS:
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return "image/gif"
    if head[:4] == b"RIFF" and len(head) >= 16:
        return {b"WEBP": "image/webp" if head[12:16] in _WEBP_CHUNKS else None, b"AVI ": "video/x-msvideo"}.get(head[8:12])
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return "image/bmp"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML, the container of Matroska and WebM, which name their doctype early
        return "video/webm" if b"webm" in head else "video/x-matroska" if b"matroska" in head else None
    if head[4:8] == b"ftyp":
        return _iso(head)
    return None


def _iso(head: bytes) -> str | None:
    size = int.from_bytes(head[:4], "big")
    if size < 16 or size % 4 or len(head) < 16:  # a real ftyp box: size, type, major brand, minor version, brands
        return None
    major = head[8:12]
    compatible = [head[k : k + 4] for k in range(16, min(size, len(head)) - 3, 4)]
    if major in _ISO_BRANDS:
        return _ISO_BRANDS[major]
    if major in _GENERIC_IMAGE_BRANDS:
        return next((_ISO_BRANDS[b] for b in compatible if _ISO_BRANDS.get(b, "").startswith("image/")), "image/heif")
    # An unknown major brand still counts when it declares itself compatible with a video brand we know.
    return next((_ISO_BRANDS[b] for b in compatible if _ISO_BRANDS.get(b, "").startswith("video/")), None)
