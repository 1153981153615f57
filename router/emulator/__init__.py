"""A RouterOS 7.x hotspot router emulator speaking the real API protocol on TCP.

The adapter (``router.mikrotik``) and the demo talk to it through the real librouteros
client; tests also drive "the world" (devices, time, failures) through
:class:`RouterEmulator`. It follows the RouterOS API and hotspot documentation
(help.mikrotik.com: "API", "Hotspot"); the conformance tests in tests/router/ pin it down.

Choices where RouterOS is undocumented, all kept in one place each:

- ``login-by=api`` for sessions made by ``/ip/hotspot/active/login``; a repeat login of
  the same user on an active host is a no-op; another user's session on that host is
  replaced (``HotspotModel``).
- Removing or disabling a hotspot user leaves its live session running; ``active/remove``
  keeps the MAC cookie (only ``cookie/remove``, expiry, traffic limit, session timeout or a
  reboot drop it), so an adapter has to clean up explicitly.
- Limits (``limit-uptime``, byte limits, profile timeouts) are fixed when a session starts;
  user counters are updated at logout, as RouterOS documents.
- A departing device that is not logged in leaves the host table at once; a logged-in one
  stays until a keepalive/idle timeout ends its session. Unauthorized hosts that stay in
  range never idle out. Removed hosts come back on the device's next traffic.
- Login needs the ``api`` policy; without it the API says ``invalid user name or password (6)``.
- A reboot logs every session out and books its uptime to the user like any logout
  (``HotspotModel.book_uptime_on_reboot``; False models counters lost in the reboot). With
  ``reboot(boot_seconds=N)`` the API turns connections away for N seconds of the emulator's
  clock; then the devices still in range are in the host table again, unauthorized.
- Every ended session is kept in ``session_history()`` (who, login, end, reason), so tests
  can measure what a customer really got online (``seconds_online(mac)``).
"""

from __future__ import annotations

from router.emulator.device import RouterEmulator
from router.emulator.standalone import serve_forever

__all__ = ["RouterEmulator", "serve_forever"]
