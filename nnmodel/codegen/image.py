"""The self-describing EEPROM image (header + payload) and its Intel HEX form.

Header, 12 bytes: "NM", image version 1, flags 0, payload length LE16, model hash LE32,
CRC-16/CCITT-FALSE LE16 over header bytes 0..9 followed by the payload (nnrt_image_check).
"""
from __future__ import annotations

import binascii
import struct

IMAGE_MAGIC = b"NM"
IMAGE_VERSION = 1
HEADER_BYTES = 12
MAX_PAYLOAD = 0xFFFF


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: binascii's CRC-CCITT (poly 0x1021, MSB first) from init 0xFFFF."""
    return binascii.crc_hqx(data, crc)


def build_image(payload: bytes, model_hash: int) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the image limit of {MAX_PAYLOAD}")
    head = IMAGE_MAGIC + struct.pack("<BBHI", IMAGE_VERSION, 0, len(payload), model_hash)
    return head + struct.pack("<H", crc16(head + payload)) + payload


def intel_hex(data: bytes, base: int = 0) -> str:
    """Intel HEX (record types 00/04/01), 16 data bytes per record, as avr-objcopy writes .eep."""
    lines: list[str] = []
    upper = -1
    for pos in range(0, len(data), 16):
        addr = base + pos
        if addr >> 16 != upper:
            upper = addr >> 16
            lines.append(_record(0, 4, struct.pack(">H", upper)))
        lines.append(_record(addr & 0xFFFF, 0, data[pos:pos + 16]))
    lines.append(_record(0, 1, b""))
    return "\n".join(lines) + "\n"


def _record(addr: int, rtype: int, data: bytes) -> str:
    body = struct.pack(">BHB", len(data), addr, rtype) + data
    return ":" + (body + bytes([-sum(body) & 0xFF])).hex().upper()
