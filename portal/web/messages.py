"""Customer-facing messages by stable key. English here; Swahili in translations/sw.

Services raise errors carrying a key; views turn the key into words with :func:`message`.
"""
from __future__ import annotations

from typing import Any

from flask_babel import gettext


def N_(text: str) -> str:  # noqa: N802 - the conventional name pybabel extracts
    return text


MESSAGES: dict[str, str] = {
    "error": N_("Something went wrong. Please try again."),
    "bad_input": N_("Some details are missing or wrong. Please check and try again."),
    "not_found": N_("We could not find that."),
    "package_invalid": N_("Please choose a package."),
    "package_not_found": N_("That package is not available any more. Please choose another one."),
    "phone_invalid": N_("That phone number does not look right. Use your M-Pesa number, like 0712 345 678."),
    "phone_not_safaricom": N_("M-Pesa prompts only reach Safaricom lines. Please use a Safaricom number."),
    "mac_invalid": N_("We could not identify your device. Please reconnect to the Wi-Fi and open this page again."),
    "ip_invalid": N_("We could not identify your device. Please reconnect to the Wi-Fi and open this page again."),
    "router_unknown": N_("We could not tell which hotspot you are on. Please reconnect to the Wi-Fi and open this page again."),
    "device_not_recognized": N_("This device is not connected to our Wi-Fi hotspot. Reconnect to the Wi-Fi and open this page again."),
    "hotspot_unreachable": N_("The hotspot is not answering right now. Please wait a minute and try again."),
    "payment_already_pending": N_("A payment prompt is already waiting on this phone or device. Check your phone, or wait two minutes."),
    "phone_cooldown": N_("Please wait %(seconds)s seconds before asking for another M-Pesa prompt."),
    "device_cooldown": N_("Please wait %(seconds)s seconds before asking for another M-Pesa prompt."),
    "phone_daily_cap": N_("This phone has had too many payment prompts today. Please try again tomorrow."),
    "device_daily_cap": N_("This device has had too many payment prompts today. Please try again tomorrow."),
    "global_busy": N_("We are very busy right now. Please try again in a minute."),
    "too_many_requests": N_("Too many attempts. Please wait a little and try again."),
    "payment_prompt_sent": N_("Check your phone and enter your M-Pesa PIN."),
    "payment_not_found": N_("We could not find that payment."),
    "payment_refused": N_("M-Pesa could not send the prompt. Please try again in a minute."),
    "payment_unconfirmed": N_("We have not heard from M-Pesa yet. If you entered your PIN, you will be connected as soon as it confirms. No need to pay again."),
    "mpesa_still_confirming": N_("M-Pesa is still confirming your payment. If you entered your PIN, you will be connected as soon as it confirms. No need to pay again."),
    "upstream_unavailable": N_("A service we need is not answering. Please try again in a minute."),
    "reconnect_not_found": N_("We could not find a live purchase with that M-Pesa code and phone number."),
    "reconnect_limit": N_("This purchase has been moved to another device too many times. Please ask the venue for help."),
    "reconnect_rate_limited": N_("Too many tries. Please wait an hour and try again."),
    "receipt_invalid": N_("That does not look like an M-Pesa code. It has 10 letters and numbers, like QJK3ABCD12, and is at the start of your M-Pesa SMS."),
}


def message(key: str, **params: Any) -> str:
    """The customer's words for ``key`` in the current language (English outside a request)."""
    text = MESSAGES.get(key)
    if text is None:
        from portal.mpesa.results import result_message

        try:
            return result_message(key, _language())
        except (KeyError, ValueError):
            text = MESSAGES["error"]
    try:
        return gettext(text, **params)
    except (KeyError, RuntimeError, ValueError):
        return text % params if params else text


def _language() -> str:
    from portal.web.i18n import current_language

    return current_language()
