"""An emulated ATtiny85 behind an STK500v1 ISP programmer on a pseudo-terminal (upload tests).

`avrdude -c stk500v1 -P <port>` talks to it as to an STK500v1 programmer (an STK500 with its
version 1 firmware, or an Arduino as ISP) wired to a chip, so the real avrdude runs the real upload
command lines with nothing but a file on the other side.
Written from two documents, not from any programmer's firmware:
- Atmel AVR061, "STK500 Communication Protocol": commands, parameters and answers (Cmnd_STK_*,
  Parm_STK_*, Resp_STK_*); every command ends with Sync_CRC_EOP, answers open with INSYNC.
- The ATtiny25/45/85 datasheet, "Memory Programming": the serial programming instruction set (the
  4-byte commands that UNIVERSAL passes through), page sizes (flash 32 words, EEPROM 4 bytes),
  signature 1E 93 0B, factory fuses (low 0x62, high 0xDF, extended 0xFF), and what they do:
  - Chip Erase sets flash and lock bits to 1, and EEPROM too unless EESAVE (high fuse bit 3) is
    programmed (0); fuses are kept;
  - flash cells only go from 1 to 0 without an erase: a page write ANDs the page buffer into flash;
  - an EEPROM write erases the byte first (auto-erase): it stores the value;
  - lock bits are cleared to 0 by writes and set to 1 only by Chip Erase; a programmed LB1
    (modes 2 and 3) disables further flash, EEPROM and fuse programming;
  - SPIEN (high fuse bit 5) cannot be changed in serial programming mode, and a programmed
    RSTDISBL (bit 7), or DWEN (bit 6) with the lock bits unprogrammed (debugWIRE on), takes the
    RESET pin: serial programming no longer starts.
LOAD_ADDRESS takes a word address for flash. For EEPROM, AVR061's STK500 takes a byte address and
Arduino as ISP a word address; avrdude sends byte addresses up to 7.1 and word addresses from 7.2
on (avrdude issues 967 and 1713), so the emulated programmer is told which one it is
(eeprom_word_addresses; eeprom_word_addresses_for(avrdude's version)). PROG_PAGE of flash is
written in pages of the size SET_DEVICE announced.

Memory lives in a JSON state file that every write updates before it is acknowledged, so a chip
outlives the programmer and avrdude runs see each other's writes. Not modelled: timing (every
operation completes at once), the verification lock (mode 3 still reads), high-voltage programming.
"""
from __future__ import annotations

import json
import os
import select
import threading
import tty
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NNModelError

FLASH_BYTES = 8192
FLASH_PAGE_BYTES = 64  # 32 words
EEPROM_BYTES = 512
EEPROM_PAGE_BYTES = 4
SIGNATURE = bytes([0x1E, 0x93, 0x0B])
OSCCAL = 0x8A  # this emulated chip's factory calibration byte (every chip has its own)
FACTORY_FUSES = {"lfuse": 0x62, "hfuse": 0xDF, "efuse": 0xFF, "lock": 0xFF}
EESAVE, SPIEN, DWEN, RSTDISBL = 0x08, 0x20, 0x40, 0x80  # high fuse bits (0 = programmed)


@dataclass
class Attiny85:
    """The chip's non-volatile memories and the serial programming instruction set."""
    flash: bytearray = field(default_factory=lambda: bytearray(b"\xff" * FLASH_BYTES))
    eeprom: bytearray = field(default_factory=lambda: bytearray(b"\xff" * EEPROM_BYTES))
    lfuse: int = FACTORY_FUSES["lfuse"]
    hfuse: int = FACTORY_FUSES["hfuse"]
    efuse: int = FACTORY_FUSES["efuse"]
    lock: int = FACTORY_FUSES["lock"]
    # volatile: lost at reset
    programming: bool = field(default=False, init=False)
    page: bytearray = field(default_factory=lambda: bytearray(b"\xff" * FLASH_PAGE_BYTES), init=False)
    ee_page: dict[int, int] = field(default_factory=dict, init=False)
    changed: bool = field(default=False, init=False)  # written since the last save

    @classmethod
    def load(cls, path: Path) -> Attiny85:
        """The chip saved in path; a factory-fresh one if the file does not exist yet."""
        if not path.exists():
            return cls()
        try:
            state = json.loads(path.read_text())
            chip = cls(bytearray.fromhex(state["flash"]), bytearray.fromhex(state["eeprom"]),
                       **{k: int(state[k]) for k in FACTORY_FUSES})
            if len(chip.flash) != FLASH_BYTES or len(chip.eeprom) != EEPROM_BYTES:
                raise ValueError(f"flash {len(chip.flash)} B, EEPROM {len(chip.eeprom)} B")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise NNModelError(f"{path}: not an emulated ATtiny85 state file ({e}); delete it to start "
                               f"from a factory-fresh chip") from None
        return chip

    def save(self, path: Path) -> None:
        state = {"part": "ATtiny85", "flash": self.flash.hex(), "eeprom": self.eeprom.hex(),
                 **{k: getattr(self, k) for k in FACTORY_FUSES}}
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, path)  # a reader sees the old chip or the new one, never half of it
        self.changed = False

    def clock_hz(self) -> float:
        """The system clock the low fuse selects (CKSEL3..0, CKDIV8), for running the chip in a simulator."""
        sources = {0b0001: 16e6, 0b0010: 8e6, 0b0011: 6.4e6, 0b0100: 128e3}  # PLL, RC, ATtiny15 mode, WDT osc
        base = sources.get(self.lfuse & 0x0F)
        if base is None:
            raise NNModelError(f"low fuse 0x{self.lfuse:02X} selects an external clock or crystal, which the "
                               f"emulated ATtiny85 does not have")
        return base / 8 if not self.lfuse & 0x80 else base

    def reset(self) -> None:
        self.programming = False
        self.page[:] = b"\xff" * FLASH_PAGE_BYTES
        self.ee_page.clear()

    def enter_programming(self) -> bool:
        """RESET held low, then Programming Enable; False when the chip does not echo 0x53."""
        self.reset()
        return self.isp(bytes([0xAC, 0x53, 0x00, 0x00]))[2] == 0x53

    def isp(self, cmd: bytes) -> bytes:
        """One 4-byte serial programming instruction; returns the 4 bytes shifted out on MISO
        (each byte echoes the previous one; reads put their data in the last)."""
        b0, b1, b2, b3 = cmd
        out = bytearray([0x00, b0, b1, b2])
        if b0 == 0xAC and b1 == 0x53:
            debugwire = not self.hfuse & DWEN and self.lock & 0x03 == 0x03
            self.programming = bool(self.hfuse & RSTDISBL) and not debugwire
            if not self.programming:
                out[2] = 0x00
            return bytes(out)
        if not self.programming:
            return bytes(4)
        writable = bool(self.lock & 0x01)  # LB1 unprogrammed: lock mode 1
        word = (b1 << 8 | b2) & 0x0FFF
        self.changed |= b0 in (0x4C, 0xC0, 0xC2) or (b0 == 0xAC and b1 & 0xE0 in (0x80, 0xA0, 0xE0))
        if b0 == 0xAC and b1 & 0xE0 == 0x80:  # Chip Erase
            self.flash[:] = b"\xff" * FLASH_BYTES
            if self.hfuse & EESAVE:
                self.eeprom[:] = b"\xff" * EEPROM_BYTES
            self.lock = 0xFF
        elif b0 == 0xF0:  # Poll RDY/BSY: always ready
            out[3] = 0x00
        elif b0 in (0x40, 0x48):  # Load Program Memory Page, low / high byte
            self.page[(b2 & 0x1F) * 2 + (b0 == 0x48)] = b3
        elif b0 == 0x4C:  # Write Program Memory Page
            if writable:
                start = (word >> 5) * FLASH_PAGE_BYTES
                for i, byte in enumerate(self.page):
                    self.flash[start + i] &= byte
            self.page[:] = b"\xff" * FLASH_PAGE_BYTES
        elif b0 in (0x20, 0x28):  # Read Program Memory, low / high byte
            out[3] = self.flash[word * 2 + (b0 == 0x28)]
        elif b0 == 0xA0:  # Read EEPROM Memory
            out[3] = self.eeprom[(b1 << 8 | b2) & 0x1FF]
        elif b0 == 0xC0:  # Write EEPROM Memory (auto-erase, then write)
            if writable:
                self.eeprom[(b1 << 8 | b2) & 0x1FF] = b3
        elif b0 == 0xC1:  # Load EEPROM Memory Page
            self.ee_page[b2 & 0x03] = b3
        elif b0 == 0xC2:  # Write EEPROM Memory Page
            if writable:
                for i, byte in self.ee_page.items():
                    self.eeprom[((b1 << 8 | b2) & 0x1FC) + i] = byte
            self.ee_page.clear()
        elif b0 == 0x30:  # Read Signature Byte
            out[3] = SIGNATURE[b2 & 0x03] if b2 & 0x03 < 3 else 0xFF
        elif b0 == 0x38:  # Read Calibration Byte
            out[3] = OSCCAL
        elif (b0, b1) == (0x50, 0x00):  # Read Fuse bits
            out[3] = self.lfuse
        elif (b0, b1) == (0x58, 0x08):  # Read Fuse High bits
            out[3] = self.hfuse
        elif (b0, b1) == (0x50, 0x08):  # Read Extended Fuse Bits
            out[3] = self.efuse
        elif (b0, b1) == (0x58, 0x00):  # Read Lock bits
            out[3] = self.lock
        elif b0 == 0xAC and b1 & 0xE0 == 0xE0:  # Write Lock bits: only 1 -> 0
            self.lock &= 0xFC | b3
        elif b0 == 0xAC and b1 in (0xA0, 0xA8, 0xA4) and writable:  # Write Fuse / High / Extended
            if b1 == 0xA0:
                self.lfuse = b3
            elif b1 == 0xA8:
                self.hfuse = (b3 & ~SPIEN) | (self.hfuse & SPIEN)
            else:
                self.efuse = 0xFE | (b3 & 0x01)  # SELFPRGEN is its only bit
        return bytes(out)


# AVR061 command, parameter and answer codes
STK_OK, STK_FAILED, STK_UNKNOWN, STK_NODEVICE, STK_INSYNC, STK_NOSYNC = 0x10, 0x11, 0x12, 0x13, 0x14, 0x15
CRC_EOP = 0x20
GET_SYNC, GET_SIGN_ON, SET_PARAMETER, GET_PARAMETER, SET_DEVICE, SET_DEVICE_EXT = 0x30, 0x31, 0x40, 0x41, 0x42, 0x45
ENTER_PROGMODE, LEAVE_PROGMODE, CHIP_ERASE, CHECK_AUTOINC, LOAD_ADDRESS, UNIVERSAL = 0x50, 0x51, 0x52, 0x53, 0x55, 0x56
PROG_PAGE, READ_PAGE, READ_SIGN = 0x64, 0x74, 0x75
ARGUMENTS = {GET_SYNC: 0, GET_SIGN_ON: 0, SET_PARAMETER: 2, GET_PARAMETER: 1, SET_DEVICE: 20, SET_DEVICE_EXT: 1,
             ENTER_PROGMODE: 0, LEAVE_PROGMODE: 0, CHIP_ERASE: 0, CHECK_AUTOINC: 0, LOAD_ADDRESS: 2,
             UNIVERSAL: 4, PROG_PAGE: 3, READ_PAGE: 3, READ_SIGN: 0}  # fixed part; the rest is read as it says
# Parameters a host may read: hardware 2, firmware 1.18 (Arduino as ISP's version; above 1.10 the
# host also sends SET_DEVICE_EXT), 5.0 V target and reference, no top card (0xFF).
PARAMETERS = {0x80: 2, 0x81: 1, 0x82: 18, 0x83: 0, 0x84: 50, 0x85: 50, 0x86: 0, 0x87: 0, 0x88: 0, 0x89: 1,
              0x90: 0x00, 0x91: 0x01, 0x92: 0, 0x93: 0, 0x94: 0, 0x95: 1, 0x96: 1, 0x98: 0xFF}


@dataclass
class Stk500v1:
    """The programmer: parses AVR061 frames and drives the chip over its serial programming interface."""
    chip: Attiny85
    state: Path
    eeprom_word_addresses: bool  # Arduino as ISP (True) or AVR061's STK500 (False)
    parameters: dict[int, int] = field(default_factory=lambda: dict(PARAMETERS))
    address: int = 0  # LOAD_ADDRESS: a word address
    flash_page: int = 0  # from SET_DEVICE

    def session(self, send: Callable[[bytes], None]) -> Generator[None, int, None]:
        """Fed one received byte per send(); answers through send."""
        while True:
            cmd = yield
            if cmd not in ARGUMENTS:  # AVR061: UNKNOWN if the frame ends at once, else out of sync
                send(bytes([STK_UNKNOWN if (yield) == CRC_EOP else STK_NOSYNC]))
                continue
            args = bytearray()
            for _ in range(ARGUMENTS[cmd]):
                args.append((yield))
            more = 0  # what the fixed part announces: the rest of SET_DEVICE_EXT, PROG_PAGE's data
            if cmd == SET_DEVICE_EXT:
                more = args[0] - 1  # commandsize counts itself
            elif cmd == PROG_PAGE:
                more = args[0] << 8 | args[1]
            data = bytearray()
            for _ in range(more):
                data.append((yield))
            if (yield) != CRC_EOP:
                send(bytes([STK_NOSYNC]))
                continue
            answer = self.execute(cmd, bytes(args), bytes(data))
            if self.chip.changed:
                self.chip.save(self.state)  # before the answer: once avrdude has it, the file has it
            send(bytes([STK_INSYNC]) + answer)

    def execute(self, cmd: int, args: bytes, data: bytes) -> bytes:
        """The answer after INSYNC."""
        chip, ok = self.chip, bytes([STK_OK])
        if cmd == GET_SIGN_ON:
            return b"AVR STK" + ok
        if cmd == SET_PARAMETER:
            self.parameters[args[0]] = args[1]
        elif cmd == GET_PARAMETER:
            value = self.parameters.get(args[0])
            return bytes([STK_FAILED]) if value is None else bytes([value]) + ok
        elif cmd == SET_DEVICE:
            self.flash_page = args[12] << 8 | args[13]
        elif cmd == ENTER_PROGMODE:
            return ok if chip.enter_programming() else bytes([STK_NODEVICE])
        elif cmd == LEAVE_PROGMODE:
            chip.reset()  # RESET released: the chip runs
        elif cmd == CHIP_ERASE:
            self._isp(0xAC, 0x80, 0x00, 0x00)
        elif cmd == LOAD_ADDRESS:
            self.address = args[0] | args[1] << 8
        elif cmd == UNIVERSAL:
            return self._isp(*args)[3:] + ok
        elif cmd == READ_SIGN:
            return bytes(self._isp(0x30, 0x00, i, 0x00)[3] for i in range(3)) + ok
        elif cmd == PROG_PAGE:
            if not self._write(chr(args[2]), data):
                return bytes([STK_FAILED])
        elif cmd == READ_PAGE:
            read = self._read(chr(args[2]), args[0] << 8 | args[1])
            return bytes([STK_FAILED]) if read is None else read + ok
        return ok

    def _isp(self, *cmd: int) -> bytes:
        return self.chip.isp(bytes(cmd))

    def _eeprom_address(self) -> int:
        return self.address * 2 if self.eeprom_word_addresses else self.address

    def _write(self, memtype: str, data: bytes) -> bool:
        if memtype == "F" and self.flash_page:
            start = self.address * 2
            for i, byte in enumerate(data):
                at = start + i
                self._isp(0x48 if at & 1 else 0x40, 0x00, (at >> 1) & 0xFF, byte)
                if (at + 1) % self.flash_page == 0 or i == len(data) - 1:  # page full, or the data ends
                    self._isp(0x4C, (at >> 9) & 0xFF, (at >> 1) & 0xFF, 0x00)
            return True
        if memtype == "E":
            for i, byte in enumerate(data):
                at = self._eeprom_address() + i
                self._isp(0xC0, (at >> 8) & 0xFF, at & 0xFF, byte)
            return True
        return False

    def _read(self, memtype: str, length: int) -> bytes | None:
        if memtype == "F":
            at = self.address * 2
            return bytes(self._isp(0x28 if a & 1 else 0x20, (a >> 9) & 0xFF, (a >> 1) & 0xFF, 0)[3]
                         for a in range(at, at + length))
        if memtype == "E":
            at = self._eeprom_address()
            return bytes(self._isp(0xA0, (a >> 8) & 0xFF, a & 0xFF, 0)[3] for a in range(at, at + length))
        return None


def eeprom_word_addresses_for(avrdude_version: tuple[int, int]) -> bool:
    """Whether that avrdude sends stk500v1 EEPROM addresses in words (7.2 on) or bytes (up to 7.1)."""
    return avrdude_version >= (7, 2)


class _Sender:
    """Writes to the non-blocking master; what does not fit is lost, as on a UART nobody reads."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __call__(self, data: bytes) -> None:
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except BlockingIOError:
            pass


class ProgrammerOnPty:
    """The programmer with the chip of `state` on a new pseudo-terminal, served by a thread while open.

        with ProgrammerOnPty(Path("chip.json"), eeprom_word_addresses=False) as isp:
            subprocess.run(["avrdude", "-p", "attiny85", "-c", "stk500v1", "-P", isp.port, ...])
    """

    def __init__(self, state: Path, *, eeprom_word_addresses: bool) -> None:
        self.state = state
        self.programmer = Stk500v1(Attiny85.load(state), state, eeprom_word_addresses)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing: bytes pass as they are
        os.set_blocking(self._master, False)
        # Held open so the master never sees a hang-up between two avrdude runs.
        self.port = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="stk500v1", daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> ProgrammerOnPty:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        os.close(self._master)
        os.close(self._slave)
        if self.error is not None:
            raise self.error

    def _serve(self) -> None:
        send = _Sender(self._master)
        session = self.programmer.session(send)
        next(session)
        while not self._stop.is_set():
            if not select.select([self._master], [], [], 0.05)[0]:
                continue
            received = os.read(self._master, 4096)
            if self.error is not None:  # broken: answer FAILED, so avrdude stops at once instead of retrying
                send(bytes([STK_FAILED]) * len(received))
                continue
            try:
                for byte in received:
                    session.send(byte)
            except Exception as e:  # reported by __exit__, in the caller's thread
                self.error = e
