#!/usr/bin/env python3
"""Generate www/img/interference.png, the sample site's large asset.

The demo site needs one real, viewable image of 1-2 MiB so that serving and verifying it goes
through the multi-block DAG path (several 256 KiB leaves under a dag-pb root). Small SVGs
alone would only ever be single raw blocks.

The output must be byte-identical on every machine, because its CID is part of the site. So
the pixels use integer arithmetic only (no floating point, no libm), and the PNG is written
with *stored* (uncompressed) deflate blocks: zlib's compressed output may differ between zlib
versions and builds (zlib-ng, hardware-accelerated forks), stored blocks cannot. zlib is used
only for its checksums (CRC-32, Adler-32), which are fixed by definition. Being uncompressed
is also what gives the file its size.

Usage:
  python3 scripts/make-large-image.py            # (re)write www/img/interference.png
  python3 scripts/make-large-image.py --check    # exit 1 if the committed file differs
"""

import struct
import sys
import zlib
from math import isqrt
from pathlib import Path

WIDTH = 960
HEIGHT = 600
# Largest payload of one stored deflate block (its LEN field is 16 bits).
MAX_STORED_BLOCK = 65535
OUTPUT = Path(__file__).resolve().parent.parent / "www" / "img" / "interference.png"


def triangle(saw: int) -> int:
    """Folds a 0..255 sawtooth into a 0..254 triangle wave, so bands shade smoothly."""
    return saw * 2 if saw < 128 else (255 - saw) * 2


def pixel_rows():
    """RGB scanlines, each prefixed by PNG filter type 0 (None)."""
    # Two wave sources; their interference pattern gives the picture texture everywhere.
    sx1, sy1 = 310, 230
    sx2, sy2 = 650, 370
    for y in range(HEIGHT):
        row = bytearray([0])
        dy1 = (y - sy1) * (y - sy1)
        dy2 = (y - sy2) * (y - sy2)
        for x in range(WIDTH):
            # Distances to the sources in tenths of a pixel (isqrt is exact, so portable).
            d1 = isqrt(((x - sx1) * (x - sx1) + dy1) * 100)
            d2 = isqrt(((x - sx2) * (x - sx2) + dy2) * 100)
            # Sum and difference of distances: confocal ellipses crossed by hyperbolas.
            ellipse = triangle((d1 + d2) & 0xFF)
            hyperbola = triangle((d1 - d2) & 0xFF)
            r = (ellipse * (WIDTH - x) // WIDTH + 40 * x // WIDTH) & 0xFF
            g = (hyperbola * y // HEIGHT + ((d1 ^ d2) & 0x1F)) & 0xFF
            b = (255 - ellipse // 2 - 60 * y // HEIGHT) & 0xFF
            row += bytes((r, g, b))
        yield bytes(row)


def stored_zlib(data: bytes) -> bytes:
    """A zlib stream holding `data` in stored deflate blocks (RFC 1950 / RFC 1951 3.2.4)."""
    out = bytearray(b"\x78\x01")  # deflate, 32 KiB window, no preset dictionary, fastest
    blocks = max(1, -(-len(data) // MAX_STORED_BLOCK))
    for i in range(blocks):
        chunk = data[i * MAX_STORED_BLOCK : (i + 1) * MAX_STORED_BLOCK]
        final = 1 if i == blocks - 1 else 0
        out += bytes([final])  # BFINAL, BTYPE=00 (stored), padding to the byte boundary
        out += struct.pack("<HH", len(chunk), len(chunk) ^ 0xFFFF)
        out += chunk
    out += struct.pack(">I", zlib.adler32(data) & 0xFFFFFFFF)
    return bytes(out)


def chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type and data."""
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png() -> bytes:
    # 8-bit truecolour, no interlace.
    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
    pixels = b"".join(pixel_rows())
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", stored_zlib(pixels))
        + chunk(b"IEND", b"")
    )


def main(argv) -> int:
    data = png()
    if argv[1:] == ["--check"]:
        if OUTPUT.exists() and OUTPUT.read_bytes() == data:
            print(f"{OUTPUT.name} is up to date ({len(data)} bytes)")
            return 0
        print(f"{OUTPUT} differs from the generator's output; rerun {argv[0]}", file=sys.stderr)
        return 1
    if argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(data)
    print(f"wrote {OUTPUT} ({len(data)} bytes, {WIDTH}x{HEIGHT})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
