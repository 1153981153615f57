"""The /system menus: identity (settable), resource (uptime from the boot time) and clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from router.emulator.codec import Command
from router.emulator.live_menus import ComputedMenu
from router.emulator.menus import Context, Field, Menu, Outcome, Record, Trap
from router.emulator.values import BOOL, DURATION, INT


@dataclass
class SystemInfo:
    """The router's identity and software, and when it last booted."""

    identity: str
    version: str
    boot_at: float


def build_system_menus(system: SystemInfo) -> list[Menu]:
    def identity_rows(ctx: Context) -> list[Record]:
        return [(None, {"name": system.identity})]

    def set_identity(command: Command, ctx: Context) -> Outcome:
        for name in command.attributes:
            if name != "name":
                raise Trap(f"unknown parameter {name}")
        if "name" in command.attributes:
            system.identity = command.attributes["name"]
        return Outcome()

    def resource_rows(ctx: Context) -> list[Record]:
        return [
            (
                None,
                {
                    "uptime": round(ctx.now - system.boot_at),
                    "version": f"{system.version} (stable)",
                    "build-time": "2025-02-24 12:51:48",
                    "factory-software": "7.1",
                    "free-memory": 201_326_592,
                    "total-memory": 268_435_456,
                    "cpu": "QEMU",
                    "cpu-count": 1,
                    "cpu-frequency": 2400,
                    "cpu-load": 1,
                    "free-hdd-space": 83_886_080,
                    "total-hdd-space": 134_217_728,
                    "architecture-name": "x86_64",
                    "board-name": "CHR",
                    "platform": "MikroTik",
                },
            )
        ]

    def clock_rows(ctx: Context) -> list[Record]:
        moment = datetime.fromtimestamp(ctx.now, tz=UTC)
        return [
            (
                None,
                {
                    "time": moment.strftime("%H:%M:%S"),
                    "date": moment.strftime("%Y-%m-%d"),
                    "time-zone-autodetect": False,
                    "time-zone-name": "UTC",
                    "gmt-offset": "+00:00",
                    "dst-active": False,
                },
            )
        ]

    resource_fields = [
        Field("uptime", DURATION),
        Field("version"),
        Field("build-time"),
        Field("factory-software"),
        *(Field(name, INT) for name in ("free-memory", "total-memory")),
        Field("cpu"),
        *(Field(name, INT) for name in ("cpu-count", "cpu-frequency", "cpu-load", "free-hdd-space", "total-hdd-space")),
        Field("architecture-name"),
        Field("board-name"),
        Field("platform"),
    ]
    clock_fields = [
        Field("time"),
        Field("date"),
        Field("time-zone-autodetect", BOOL),
        Field("time-zone-name"),
        Field("gmt-offset"),
        Field("dst-active", BOOL),
    ]
    return [
        ComputedMenu("/system/identity", [Field("name")], identity_rows, actions={"set": set_identity}),
        ComputedMenu("/system/resource", resource_fields, resource_rows),
        ComputedMenu("/system/clock", clock_fields, clock_rows),
    ]
