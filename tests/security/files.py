"""Hostile files for the input tests: escapes, fakes, bombs and giants — all cheap to make."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def decompression_bomb(side: int = 20_000) -> bytes:
    """A valid 1-bit PNG of ``side``×``side`` pixels whose rows are all zeros: a few tens of KB on disk that
    decode to ``side``² pixels (400 million at the default), i.e. gigabytes once converted to RGB."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class HostileFiles:
    """The files of one test run; ``allowed`` is the only folder references may come from."""

    allowed: Path
    outside: Path

    @property
    def good_png(self) -> Path:
        return self.allowed / "good.png"

    @property
    def good_jpeg(self) -> Path:
        return self.allowed / "good.jpg"

    @property
    def secret(self) -> Path:
        return self.outside / "secret.png"


def make_hostile_files(root: Path) -> HostileFiles:
    allowed, outside = root / "allowed", root / "outside"
    allowed.mkdir(parents=True)
    outside.mkdir()
    files = HostileFiles(allowed, outside)
    Image.new("RGB", (300, 200), "teal").save(files.good_png)
    Image.new("RGB", (300, 200), "olive").save(files.good_jpeg)
    Image.new("RGB", (300, 200), "red").save(files.secret)  # a valid image: only the root check refuses it
    (allowed / "not-an-image.png").write_text("#!/bin/sh\necho this is a script renamed .png\n")
    (allowed / "bomb.png").write_bytes(decompression_bomb())
    Image.new("1", (10_000, 10_000)).save(allowed / "giant.png")  # 100 MP, a few KB
    with (allowed / "sixty-megabytes.png").open("wb") as big:
        big.write(files.good_png.read_bytes())
        big.truncate(60 * 1024 * 1024)  # sparse: 60 MB on paper, nothing to write
    (allowed / "escape.png").symlink_to(files.secret)
    (allowed / "escape-dir").symlink_to(outside, target_is_directory=True)
    return files
