"""Customer-facing messages by stable key. English here; Swahili in translations/sw.

Business rules raise errors carrying a key (:mod:`portal.domain.errors`), M-Pesa outcomes and
Daraja errors carry one too (:mod:`portal.mpesa.results`, :mod:`portal.mpesa.errors`); views
turn any key into words with :func:`message`. One catalog, one translation workflow.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext


def N_(text: str) -> str:
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
    "router_unknown": N_(
        "We could not tell which hotspot you are on. Please reconnect to the Wi-Fi and open this page again."
    ),
    "device_not_recognized": N_(
        "This device is not connected to our Wi-Fi hotspot. Reconnect to the Wi-Fi and open this page again."
    ),
    "hotspot_unreachable": N_("The hotspot is not answering right now. Please wait a minute and try again."),
    "payment_already_pending": N_(
        "A payment prompt is already waiting on this phone or device. Check your phone, or wait two minutes."
    ),
    "phone_cooldown": N_("Please wait %(seconds)s seconds before asking for another M-Pesa prompt."),
    "device_cooldown": N_("Please wait %(seconds)s seconds before asking for another M-Pesa prompt."),
    "phone_daily_cap": N_("This phone has had too many payment prompts today. Please try again tomorrow."),
    "device_daily_cap": N_("This device has had too many payment prompts today. Please try again tomorrow."),
    "global_busy": N_("We are very busy right now. Please try again in a minute."),
    "too_many_requests": N_("Too many attempts. Please wait a little and try again."),
    "payment_prompt_sent": N_("Check your phone and enter your M-Pesa PIN."),
    "payment_not_found": N_("We could not find that payment."),
    "payment_refused": N_("M-Pesa could not send the prompt. Please try again in a minute."),
    "payment_unconfirmed": N_(
        "We have not heard from M-Pesa yet. If you entered your PIN, you will be connected as soon as it confirms. No need to pay again."
    ),
    "mpesa_still_confirming": N_(
        "M-Pesa is still confirming your payment. If you entered your PIN, you will be connected as soon as it confirms. No need to pay again."
    ),
    "upstream_unavailable": N_("A service we need is not answering. Please try again in a minute."),
    "reconnect_not_found": N_("We could not find a live purchase with that M-Pesa code and phone number."),
    "reconnect_limit": N_(
        "This purchase has been moved to another device too many times. Please ask the venue for help."
    ),
    "reconnect_rate_limited": N_("Too many tries. Please wait an hour and try again."),
    "receipt_invalid": N_(
        "That does not look like an M-Pesa code. It has 10 letters and numbers, like QJK3ABCD12, and is at the start of your M-Pesa SMS."
    ),
    "payments_paused": N_(
        "M-Pesa payments are paused on this Wi-Fi right now. No money was taken. Please ask the staff, or try again later."
    ),
    "payments_slow": N_(
        "M-Pesa is slow right now, so we have stopped sending payment prompts for a few minutes. No money was taken. Please try again in a few minutes."
    ),
    "voucher_invalid": N_(
        "That does not look like a voucher code. Type the %(length)s letters and numbers printed on your card."
    ),
    "voucher_not_valid": N_(
        "That voucher code does not work. Check that you typed it as printed, or ask the staff for help."
    ),
    "voucher_rate_limited": N_("Too many voucher tries from this device. Please wait an hour, or ask the staff."),
    "voucher_busy": N_("Too many voucher tries on this Wi-Fi right now. Please wait a few minutes, or ask the staff."),
    # M-Pesa outcomes and errors (keys from portal.mpesa.results and portal.mpesa.errors)
    "mpesa_paid": N_("Payment received. You are online."),
    "mpesa_cancelled": N_("You cancelled the M-Pesa request. No money was taken. Try again when you are ready."),
    "mpesa_timeout": N_("We did not get an answer from your phone. No money was taken. Try again."),
    "mpesa_prompt_not_delivered": N_(
        "The M-Pesa prompt could not reach your phone. No money was taken. Check that your phone has network, then try again."
    ),
    "mpesa_expired": N_("The M-Pesa request expired before you entered your PIN. No money was taken. Try again."),
    "mpesa_insufficient_funds": N_("Your M-Pesa balance was not enough. Top up and try again."),
    "mpesa_wrong_pin": N_(
        "The M-Pesa PIN was wrong, or this number is not registered for M-Pesa. No money was taken. Check the number and try again with your correct PIN."
    ),
    "mpesa_pin_locked": N_("Your M-Pesa PIN is locked. Call 100 to unlock it, then try again."),
    "mpesa_rule_limited": N_("M-Pesa stopped a repeat payment of the same amount. Wait 2 minutes and try again."),
    "mpesa_limit_rule": N_("M-Pesa declined this payment because of a limit on your account. Call 100 for help."),
    "mpesa_push_failed": N_("We could not send the M-Pesa request to your phone. No money was taken. Try again."),
    "mpesa_subscriber_busy": N_("M-Pesa is busy with another request on this phone. Wait one minute and try again."),
    "mpesa_throttled": N_("M-Pesa is busy right now. Wait a few minutes and try again."),
    "mpesa_unavailable": N_("We could not reach M-Pesa right now. No money was taken. Try again in a minute."),
    "mpesa_timeout_unknown": N_(
        "M-Pesa is slow to answer. If a prompt appears on your phone, enter your PIN. To avoid paying twice, wait 2 minutes before you try again."
    ),
    "mpesa_request_invalid": N_("M-Pesa did not accept this request. Check your phone number and try again."),
    "mpesa_merchant_config": N_(
        "M-Pesa payments are not set up correctly on this Wi-Fi. No money was taken. Please tell the staff."
    ),
    "mpesa_auth_failed": N_("M-Pesa payments are not working on this Wi-Fi right now. Please tell the staff."),
    "mpesa_error": N_("Something went wrong with M-Pesa. Try again in a minute."),
    "mpesa_failed": N_("The M-Pesa payment did not go through. Try again, or ask the staff for help."),
}


def message(key: str, **params: Any) -> str:
    """The customer's words for ``key`` in the current language (English outside a request)."""
    text = MESSAGES.get(key) or MESSAGES["error"]
    try:
        return gettext(text, **params)
    except (KeyError, RuntimeError, ValueError):
        return text % params if params else text
