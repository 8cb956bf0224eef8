#!/usr/bin/env python3
"""Generate the swarm demo's gallery: www/demo/img/*.svg and, on request, the large file.

The demo page (www/demo/index.html) loads a few dozen images through the mesh. They are small
SVGs drawn from a fixed linear congruential generator with integer arithmetic only, so every
machine writes the same bytes and the site's CIDs never drift. They are committed (together
about 450 KiB); `--check` says whether the committed files still match this generator.

The large file (several MiB, so it spans a couple of dozen 256 KiB leaves and exercises the
multi-block path, seeders leaving mid-transfer and the cache budget) is not committed: it is
written at demo and test time into a gitignored directory with `--large PATH`. It is an
uncompressed 24-bit BMP, which browsers display as is; its pixels use integer arithmetic too.

Usage:
  python3 scripts/make-gallery.py                  # (re)write www/demo/img/*.svg
  python3 scripts/make-gallery.py --check          # exit 1 if the committed images differ
  python3 scripts/make-gallery.py --large FILE     # write the large BMP (skipped when it is current)
"""

import hashlib
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GALLERY = ROOT / "www" / "demo" / "img"
COUNT = 36
# The large image: 1536 x 1280 pixels, 3 bytes each, rows padded to 4 bytes: 5.6 MiB.
LARGE_W = 1536
LARGE_H = 1280

PALETTES = [
    ("#0b3954", "#087e8b", "#bfd7ea", "#ff5a5f", "#c81d25"),
    ("#2b2d42", "#8d99ae", "#edf2f4", "#ef233c", "#d90429"),
    ("#264653", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51"),
    ("#003049", "#d62828", "#f77f00", "#fcbf49", "#eae2b7"),
    ("#355070", "#6d597a", "#b56576", "#e56b6f", "#eaac8b"),
    ("#22223b", "#4a4e69", "#9a8c98", "#c9ada7", "#f2e9e4"),
]


class Lcg:
    """Numerical Recipes' 32-bit LCG: the same sequence everywhere, no floating point."""

    def __init__(self, seed):
        self.state = (seed * 2654435761 + 12345) & 0xFFFFFFFF

    def next(self, bound):
        self.state = (self.state * 1664525 + 1013904223) & 0xFFFFFFFF
        return (self.state >> 8) % bound


def svg(index):
    """One gallery image: a tinted background with overlapping circles, rectangles and a path."""
    rnd = Lcg(index + 1)
    palette = PALETTES[index % len(PALETTES)]
    w, h = 320, 240
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
        f'<title>mesh gallery {index + 1:02d}</title>',
        f'<rect width="{w}" height="{h}" fill="{palette[0]}"/>',
    ]
    # 80-200 shapes: files of roughly 5-15 KiB, so the gallery moves real bytes.
    for _ in range(80 + rnd.next(120)):
        color = palette[1 + rnd.next(4)]
        opacity = 20 + rnd.next(60)
        kind = rnd.next(3)
        if kind == 0:
            out.append(
                f'<circle cx="{rnd.next(w)}" cy="{rnd.next(h)}" r="{4 + rnd.next(40)}" '
                f'fill="{color}" fill-opacity="0.{opacity}"/>'
            )
        elif kind == 1:
            out.append(
                f'<rect x="{rnd.next(w)}" y="{rnd.next(h)}" width="{4 + rnd.next(60)}" '
                f'height="{4 + rnd.next(60)}" fill="{color}" fill-opacity="0.{opacity}"/>'
            )
        else:
            points = " ".join(f"{rnd.next(w)},{rnd.next(h)}" for _ in range(3 + rnd.next(4)))
            out.append(
                f'<polyline points="{points}" fill="none" stroke="{color}" '
                f'stroke-width="{1 + rnd.next(4)}" stroke-opacity="0.{opacity}"/>'
            )
    out.append(
        f'<text x="12" y="{h - 14}" font-family="sans-serif" font-size="22" '
        f'fill="{palette[4]}">#{index + 1:02d}</text>'
    )
    out.append("</svg>\n")
    return "\n".join(out).encode()


def gallery():
    return {GALLERY / f"g{i + 1:02d}.svg": svg(i) for i in range(COUNT)}


def large_bmp():
    """An uncompressed 24-bit BMP (bottom-up rows, BGR), a moire of two integer ripples."""
    row_bytes = (LARGE_W * 3 + 3) & ~3
    pad = bytes(row_bytes - LARGE_W * 3)
    header = b"BM" + struct.pack("<IHHI", 54 + row_bytes * LARGE_H, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, LARGE_W, LARGE_H, 1, 24, 0, row_bytes * LARGE_H, 2835, 2835, 0, 0)
    rows = [header, info]
    for y in range(LARGE_H):
        dy1 = (y - 400) * (y - 400)
        dy2 = (y - 900) * (y - 900)
        row = bytearray(LARGE_W * 3)
        for x in range(LARGE_W):
            a = ((x - 500) * (x - 500) + dy1) >> 9
            b = ((x - 1100) * (x - 1100) + dy2) >> 9
            v = (a + b) & 0xFF
            row[3 * x] = v
            row[3 * x + 1] = (a ^ b) & 0xFF
            row[3 * x + 2] = (x + y + (a & 0x3F)) & 0xFF
        rows.append(bytes(row))
        rows.append(pad)
    return b"".join(rows)


def main(argv):
    if len(argv) == 2 and argv[0] == "--large":
        path = Path(argv[1])
        data = large_bmp()
        if path.exists() and hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest():
            print(f"{path}: up to date ({len(data)} bytes)")
            return 0
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        print(f"wrote {path} ({len(data)} bytes)")
        return 0
    files = gallery()
    if argv == ["--check"]:
        bad = [p for p, data in files.items() if not p.exists() or p.read_bytes() != data]
        extra = sorted(set(GALLERY.glob("*.svg")) - set(files)) if GALLERY.exists() else []
        for p in bad:
            print(f"{p.relative_to(ROOT)} differs from the generator's output", file=sys.stderr)
        for p in extra:
            print(f"{p.relative_to(ROOT)} is not written by the generator", file=sys.stderr)
        if bad or extra:
            print("run: python3 scripts/make-gallery.py", file=sys.stderr)
            return 1
        print(f"{len(files)} gallery images match the generator")
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    GALLERY.mkdir(parents=True, exist_ok=True)
    total = 0
    for p, data in files.items():
        p.write_bytes(data)
        total += len(data)
    print(f"wrote {len(files)} images to {GALLERY.relative_to(ROOT)} ({total} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
