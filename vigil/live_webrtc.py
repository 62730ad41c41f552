"""WebRTC signalling helpers of the live relay (vigil/live.py): which host addresses ICE offers, the ICE servers, and
whether a browser's offer can take the relayed H.264.

ICE host candidates: aioice offers every interface address except 127.0.0.1 and has no option to choose them.
`restrict_ice_hosts` replaces `aioice.ice.get_host_addresses` (the one function aioice's `Connection` asks while
gathering) with a filter that returns exactly the given addresses (127.0.0.1 allowed), and aioice's own choice when
none are given. It is process-wide: aioice keeps no per-connection setting."""
from __future__ import annotations

_allowed_hosts: list[str] | None = None
_aioice_original = None


def restrict_ice_hosts(addresses: list[str] | None) -> None:
    """ICE host candidates of every RTCPeerConnection in this process: exactly `addresses` (127.0.0.1 allowed),
    or aioice's own choice (all interface addresses but loopback) when empty or None."""
    global _allowed_hosts, _aioice_original
    import aioice.ice as ice

    if _aioice_original is None:
        _aioice_original = ice.get_host_addresses

        def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
            if _allowed_hosts is None:
                return _aioice_original(use_ipv4, use_ipv6)
            return [a for a in _allowed_hosts if (use_ipv6 if ":" in a else use_ipv4)]

        ice.get_host_addresses = host_addresses
    _allowed_hosts = list(addresses) if addresses else None


def ice_configuration(stun_servers: list[str]):
    from aiortc import RTCConfiguration, RTCIceServer

    return RTCConfiguration(iceServers=[RTCIceServer(urls=u) for u in stun_servers])


def offer_has_h264(sdp: str) -> bool:
    """The offer's video section lists H.264 (what the relay sends)."""
    lines = sdp.replace("\r\n", "\n").split("\n")
    in_video = False
    for ln in lines:
        if ln.startswith("m="):
            in_video = ln.startswith("m=video")
        elif in_video and ln.startswith("a=rtpmap:") and "h264/90000" in ln.lower():
            return True
    return False
