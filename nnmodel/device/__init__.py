"""Host side of the serial protocol (docs/serial-protocol.md): frames, replies and a serial client."""
from .client import DeviceClient, open_device
from .protocol import Classification, DeviceInfo, ProtocolError, classify_frame

__all__ = ["Classification", "DeviceClient", "DeviceInfo", "ProtocolError", "classify_frame", "open_device"]
