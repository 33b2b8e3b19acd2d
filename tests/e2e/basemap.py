"""A small raster PMTiles archive for the map tests: solid-colour PNG tiles over a bounding box.

Each zoom level gets its own colour, so a test can tell which tiles the page drew. PNGs are
written with zlib directly (a 256x256 single-colour image is a few hundred bytes).
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer

__all__ = ["TILE_COLOURS", "write_raster_pmtiles"]

# (r, g, b) of every tile at a zoom level; a pale green the plain map background never is.
TILE_COLOURS = {z: (200, 230 - 4 * (z - 10), 190) for z in range(0, 20)}


def _png(rgb: tuple[int, int, int], size: int = 256) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    row = b"\x00" + bytes(rgb) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(row * size, 9)) + chunk(b"IEND", b""))


def _tile(lat: float, lon: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    r = math.radians(lat)
    y = int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n)
    return x, y


def write_raster_pmtiles(path: Path, bbox: tuple[float, float, float, float],
                         zooms: range) -> int:
    """Write tiles covering ``bbox`` (south, west, north, east) at ``zooms``; returns the count."""
    south, west, north, east = bbox
    entries = []
    for z in zooms:
        x0, y0 = _tile(north, west, z)
        x1, y1 = _tile(south, east, z)
        tile = _png(TILE_COLOURS[z])
        entries += [(zxy_to_tileid(z, x, y), tile)
                    for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    entries.sort(key=lambda e: e[0])
    with path.open("wb") as f:
        writer = Writer(f)
        for tile_id, data in entries:
            writer.write_tile(tile_id, data)
        writer.finalize({
            "tile_type": TileType.PNG, "tile_compression": Compression.NONE,
            "min_zoom": zooms.start, "max_zoom": zooms.stop - 1,
            "min_lon_e7": int(west * 1e7), "min_lat_e7": int(south * 1e7),
            "max_lon_e7": int(east * 1e7), "max_lat_e7": int(north * 1e7),
            "center_zoom": zooms.start, "center_lon_e7": int((west + east) / 2 * 1e7),
            "center_lat_e7": int((south + north) / 2 * 1e7),
        }, {"attribution": "test tiles"})
    return len(entries)
