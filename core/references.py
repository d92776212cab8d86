"""Reference (input) images: local paths, ``file://`` URIs, http(s) URLs and data URIs, checked before use.

Local files are checked for size before they are read and for pixel count before they are decoded, so a
60 MB file or a decompression bomb is refused cheaply. http(s) URLs are passed to the provider as they are
(the provider fetches them; we never fetch a user's URL ourselves).
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import stat
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from PIL import Image, UnidentifiedImageError

from core.errors import InvalidRequestError
from core.filesystem import file_kind
from core.modelspec import ReferenceRules

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]+:")
ALLOWED_SOURCES = "a local path, file:// URI, http(s) URL or data:image URI"
_DATA_URI = re.compile(r"^data:image/([a-zA-Z0-9.+-]+);base64,(.*)$", re.DOTALL)
_PIL_FORMATS = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "TIFF": "tiff", "GIF": "gif"}


@dataclass(frozen=True)
class ReferenceImage:
    """A checked reference image. ``wire`` is what the provider receives: a URL or a data URI."""

    source: str  # what the user gave (a path or a URL; data URIs shortened)
    wire: str
    format: str | None = None
    width: int | None = None
    height: int | None = None
    bytes: int | None = None

    @property
    def is_url(self) -> bool:
        return self.wire.startswith(("http://", "https://"))


@dataclass(frozen=True)
class ReferencePolicy:
    """Where local reference files may come from (``None``: anywhere the process can read)."""

    allowed_roots: tuple[Path, ...] | None = None

    def check_path(self, path: Path, field: str) -> Path:
        """The resolved path, if it lies inside an allowed root (symlinks resolved first).

        Raises:
            InvalidRequestError: outside the roots, or not a usable path (a NUL byte, a name too long…).
        """
        try:
            resolved = path.expanduser().resolve()
        except (OSError, ValueError, RuntimeError):  # NUL byte, name too long, symlink loop, unknown ~user
            raise InvalidRequestError(field, str(path), "a readable local file", reason="not a usable path") from None
        if self.allowed_roots is None:
            return resolved
        roots = [r.expanduser().resolve() for r in self.allowed_roots]
        if any(resolved.is_relative_to(root) for root in roots):
            return resolved
        allowed = ", ".join(str(r) for r in roots) or "no local directories"
        raise InvalidRequestError(field, str(path), f"files inside {allowed}", reason="outside the allowed folders")


def load_references(sources: Sequence[str], rules: ReferenceRules, policy: ReferencePolicy) -> list[ReferenceImage]:
    """Check every reference in order; the first bad one raises.

    Raises:
        InvalidRequestError: naming ``images[i]``, the value and what is allowed.
    """
    return [load_reference(src, rules, policy, field=f"images[{i}]") for i, src in enumerate(sources)]


def reference_scheme(source: str) -> str:
    """The URI scheme of a reference, lower-cased ("" for a local path). "javascript:…" or "mailto:…" have no
    "//" but are schemes too; a one-letter one is a Windows drive ("C:\\…")."""
    text = source.strip()
    return urlparse(text).scheme.lower() if _SCHEME.match(text) else ""


def load_reference(source: str, rules: ReferenceRules, policy: ReferencePolicy, *, field: str) -> ReferenceImage:
    """Check one reference image (see module docstring). Schemes are matched in any case (``HTTP://``,
    ``FILE://``); any scheme but http(s), file and data is refused by name.
    """
    if not isinstance(source, str) or not source.strip():
        raise InvalidRequestError(field, source, ALLOWED_SOURCES)
    text = source.strip()
    scheme = reference_scheme(text)
    if scheme in ("http", "https"):
        return _url_reference(text, field)
    if rules.urls_only:
        raise InvalidRequestError(field, _shorten(text), "a public http(s) URL",
                                  reason="this provider only accepts references by URL")
    if scheme == "data":
        return _data_uri_reference(text, rules, field)
    if scheme == "file":
        parsed = urlparse(text)
        if parsed.netloc not in ("", "localhost"):
            raise InvalidRequestError(field, text, "file:// URIs on this machine")
        return _file_reference(Path(unquote(parsed.path)), text, rules, policy, field)
    if scheme:
        raise InvalidRequestError(field, _shorten(text), ALLOWED_SOURCES, reason=f"unsupported scheme {scheme!r}")
    return _file_reference(Path(text), text, rules, policy, field)


def _url_reference(url: str, field: str) -> ReferenceImage:
    parsed = urlparse(url)
    if not parsed.hostname or len(url) > 4096:
        raise InvalidRequestError(field, _shorten(url), "a well-formed http(s) URL")
    wire = parsed.scheme.lower() + url[len(parsed.scheme):]  # "HTTP://…" goes out as "http://…"
    return ReferenceImage(source=url, wire=wire)


def _data_uri_reference(uri: str, rules: ReferenceRules, field: str) -> ReferenceImage:
    match = _DATA_URI.match(uri)
    if not match:
        raise InvalidRequestError(field, _shorten(uri), "data:image/<format>;base64,<data>")
    if len(match.group(2)) > rules.max_bytes * 4 // 3 + 8:
        raise InvalidRequestError(field, _shorten(uri), f"images up to {_mib(rules.max_bytes)}",
                                  reason="too large")
    try:
        data = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError(field, _shorten(uri), "valid base64 image data") from None
    return _checked(data, source=_shorten(uri, 40), rules=rules, field=field)


def _file_reference(path: Path, shown: str, rules: ReferenceRules, policy: ReferencePolicy,
                    field: str) -> ReferenceImage:
    try:
        path = path.expanduser()
    except RuntimeError:  # "~nobody/x": no such user
        raise InvalidRequestError(field, shown, "an existing image file", reason="unknown user folder") from None
    if not path.is_absolute():
        raise InvalidRequestError(field, shown, "an absolute path", reason="relative paths are ambiguous")
    resolved = policy.check_path(path, field)
    try:
        try:
            # The path as given: /dev/stdin resolves to a "pipe:[…]" name that does not exist.
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise InvalidRequestError(field, shown, "an existing image file", reason="no such file") from None
        if not stat.S_ISREG(mode):  # never opened: a FIFO or a device would block or never end
            raise InvalidRequestError(field, shown, "an image file", reason=f"it is {file_kind(mode)}")
        size = resolved.stat().st_size
        if size > rules.max_bytes:
            raise InvalidRequestError(field, shown, f"images up to {_mib(rules.max_bytes)}",
                                      reason=f"the file is {_mib(size)}")
        with resolved.open("rb") as file:
            data = file.read(rules.max_bytes + 1)  # never more, even if the file grew since the check
    except OSError:  # unreadable: permissions, a directory that vanished, an I/O error
        raise InvalidRequestError(field, shown, "a readable image file", reason="it cannot be read") from None
    return _checked(data, source=str(resolved), rules=rules, field=field)


def _checked(data: bytes, *, source: str, rules: ReferenceRules, field: str) -> ReferenceImage:
    """Check bytes against ``rules`` by reading only the image header, then build the data URI."""
    if len(data) > rules.max_bytes:
        raise InvalidRequestError(field, source, f"images up to {_mib(rules.max_bytes)}", reason="too large")
    fmt, width, height = probe_image(data, field=field, source=source)
    allowed_formats = "/".join(rules.formats)
    if fmt not in rules.formats:
        raise InvalidRequestError(field, source, f"{allowed_formats} images", reason=f"it is {fmt}")
    if min(width, height) < rules.min_side:
        raise InvalidRequestError(field, source, f"each side at least {rules.min_side} px",
                                  reason=f"it is {width}x{height}")
    if width * height > rules.max_pixels:
        raise InvalidRequestError(field, source, f"at most {rules.max_pixels:,} pixels",
                                  reason=f"it is {width}x{height}")
    aspect = width / height
    if not rules.min_aspect <= aspect <= rules.max_aspect:
        raise InvalidRequestError(field, source, f"aspect ratio (width/height) between {rules.min_aspect:.3g} and "
                                  f"{rules.max_aspect:.3g}", reason=f"it is {width}x{height}")
    uri = f"data:image/{fmt};base64,{base64.b64encode(data).decode('ascii')}"
    return ReferenceImage(source=source, wire=uri, format=fmt, width=width, height=height, bytes=len(data))


def probe_image(data: bytes | Path, *, field: str = "image", source: str = "") -> tuple[str, int, int]:
    """(format, width, height) of image bytes or a file, from the header only; refuses what is not a readable
    image.

    Raises:
        InvalidRequestError: not an image, or a format we do not know.
    """
    try:
        with warnings.catch_warnings():
            # Pixel limits are ours to enforce (with a clear message), not a warning's.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(data if isinstance(data, Path) else io.BytesIO(data))
        with img:
            fmt = _PIL_FORMATS.get(img.format or "")
            width, height = img.size
            img.verify()  # structure check without decoding pixel data
    except Image.DecompressionBombError:  # more pixels than Pillow will open at all
        raise InvalidRequestError(field, source or "<bytes>", "a JPEG or PNG image",
                                  reason="far too many pixels to open safely (a decompression bomb?)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise InvalidRequestError(field, source or "<bytes>", "a JPEG or PNG image",
                                  reason="not a readable image") from None
    if fmt is None:
        raise InvalidRequestError(field, source or "<bytes>", "a JPEG or PNG image", reason="unknown format")
    return fmt, width, height


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.3g} MiB"


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
