#!/usr/bin/python3
"""png_stats.py: figures of a PNG screenshot, standard library only, so a test can
tell a rendered page from a blank one.

usage: png_stats.py FILE [RRGGBB]
prints: width height distinct_colours non_white_pixels total_pixels [pixels_of_RRGGBB]
Handles 8-bit greyscale, RGB and RGBA, non-interlaced (what Chromium writes).
"""
import struct
import sys
import zlib


def read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s: not a PNG file" % path)
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or interlace or ctype not in (0, 2, 6):
        raise ValueError("%s: unsupported PNG (depth %d, colour type %d, interlace %d)"
                         % (path, depth, ctype, interlace))
    bpp = {0: 1, 2: 3, 6: 4}[ctype]
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 255
            elif ftype == 2:
                line[x] = (line[x] + b) & 255
            elif ftype == 3:
                line[x] = (line[x] + ((a + b) >> 1)) & 255
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def main():
    if len(sys.argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    w, h, bpp, rows = read_png(sys.argv[1])
    target = bytes.fromhex(sys.argv[2]) if len(sys.argv) == 3 else None
    colours, non_white, hits = set(), 0, 0
    for line in rows:
        for x in range(0, w * bpp, bpp):
            px = line[x:x + bpp] if bpp != 1 else line[x:x + 1] * 3
            rgb = px[:3]
            colours.add(rgb)
            if rgb != b"\xff\xff\xff":
                non_white += 1
            if target is not None and rgb == target:
                hits += 1
    out = [w, h, len(colours), non_white, w * h]
    if target is not None:
        out.append(hits)
    print(" ".join(str(v) for v in out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
