"""Our hotspot users' passwords: derived from the install's secret, so every process knows
them without reading them back; random without a secret."""

from __future__ import annotations

from router.mikrotik_rows import login_password

SECRET = b"install-secret-key-0123456789"
MAC = "02:00:00:00:00:01"


def test_the_same_secret_device_and_grant_give_the_same_password():
    assert login_password(SECRET, MAC, "17") == login_password(SECRET, MAC, "17")
    assert len(login_password(SECRET, MAC, "17")) == 22


def test_another_device_grant_or_secret_gives_another_password():
    passwords = {
        login_password(SECRET, MAC, "17"),
        login_password(SECRET, "02:00:00:00:00:02", "17"),
        login_password(SECRET, MAC, "18"),
        login_password(b"another-install-secret-key", MAC, "17"),
    }
    assert len(passwords) == 4


def test_without_a_secret_every_password_is_new():
    assert login_password(None, MAC, "17") != login_password(None, MAC, "17")
    assert login_password(b"", MAC, "17") != login_password(b"", MAC, "17")
