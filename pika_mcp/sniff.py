"""Content type by content: images and videos recognised from their first bytes, nothing else."""

from __future__ import annotations

SNIFF_BYTES = 64  # enough for every signature below

# ISO base media (MP4, MOV, AVIF, HEIC): the brand after `ftyp` at offset 4 decides.
_FTYP_BRANDS: dict[bytes, str] = {
    b"avif": "image/avif", b"avis": "image/avif",
    b"heic": "image/heic", b"heix": "image/heic", b"mif1": "image/heif", b"msf1": "image/heif",
    b"qt  ": "video/quicktime",
    b"M4V ": "video/x-m4v", b"M4VH": "video/x-m4v", b"M4VP": "video/x-m4v",
    b"3gp4": "video/3gpp", b"3gp5": "video/3gpp", b"3gp6": "video/3gpp", b"3g2a": "video/3gpp2",
}  # fmt: skip
_MP4_BRANDS = (b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash", b"MSNV", b"mmp4", b"f4v ")


def sniff(head: bytes) -> str | None:
    """The MIME type of an image or video from its first SNIFF_BYTES bytes, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head[:2] == b"BM" and len(head) >= 26 and head[14:15] in (b"\x0c", b"\x28", b"\x38", b"\x40", b"\x6c", b"\x7c"):
        return "image/bmp"
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM or Matroska
        return "video/webm" if b"webm" in head[:SNIFF_BYTES] else "video/x-matroska"
    if head[4:8] == b"ftyp" and len(head) >= 12:
        brand = head[8:12]
        if brand in _FTYP_BRANDS:
            return _FTYP_BRANDS[brand]
        if brand in _MP4_BRANDS:
            return "video/mp4"
    return None
