"""Customer-facing text for every M-Pesa outcome and error, in English and Swahili.

Keys are stable identifiers that views, logs and translation catalogues can rely on; the text
is plain language for a Wi-Fi customer on a phone, always with the next step to take.
"""
from __future__ import annotations

DEFAULT_LANGUAGE = "en"

MESSAGES: dict[str, dict[str, str]] = {
    "mpesa_paid": {
        "en": "Payment received. You are online.",
        "sw": "Malipo yamepokelewa. Sasa umeunganishwa kwenye intaneti.",
    },
    "mpesa_cancelled": {
        "en": "You cancelled the M-Pesa request. No money was taken. Try again when you are ready.",
        "sw": "Umeghairi ombi la M-Pesa. Hakuna pesa iliyotolewa. Jaribu tena ukiwa tayari.",
    },
    "mpesa_timeout": {
        "en": "We did not get an answer from your phone. No money was taken. Try again.",
        "sw": "Hatukupata jibu kutoka kwa simu yako. Hakuna pesa iliyotolewa. Jaribu tena.",
    },
    "mpesa_prompt_not_delivered": {
        "en": "The M-Pesa prompt could not reach your phone. No money was taken. "
        "Check that your phone has network, then try again.",
        "sw": "Ombi la M-Pesa halikuweza kufika kwenye simu yako. Hakuna pesa iliyotolewa. "
        "Hakikisha simu yako ina mtandao, kisha ujaribu tena.",
    },
    "mpesa_expired": {
        "en": "The M-Pesa request expired before you entered your PIN. "
        "No money was taken. Try again.",
        "sw": "Ombi la M-Pesa liliisha muda kabla hujaweka PIN yako. "
        "Hakuna pesa iliyotolewa. Jaribu tena.",
    },
    "mpesa_insufficient_funds": {
        "en": "Your M-Pesa balance was not enough. Top up and try again.",
        "sw": "Salio lako la M-Pesa halitoshi. Ongeza salio kisha ujaribu tena.",
    },
    "mpesa_wrong_pin": {
        "en": "The M-Pesa PIN was wrong, or this number is not registered for M-Pesa. "
        "No money was taken. Check the number and try again with your correct PIN.",
        "sw": "PIN ya M-Pesa haikuwa sahihi, au namba hii haijasajiliwa kwa M-Pesa. "
        "Hakuna pesa iliyotolewa. Hakikisha namba kisha ujaribu tena ukitumia PIN sahihi.",
    },
    "mpesa_pin_locked": {
        "en": "Your M-Pesa PIN is locked. Call 100 to unlock it, then try again.",
        "sw": "PIN yako ya M-Pesa imefungwa. Piga 100 ili uifungue, kisha ujaribu tena.",
    },
    "mpesa_rule_limited": {
        "en": "M-Pesa stopped a repeat payment of the same amount. Wait 2 minutes and try again.",
        "sw": "M-Pesa imezuia malipo ya kiasi kilekile yaliyorudiwa. "
        "Subiri dakika 2 kisha ujaribu tena.",
    },
    "mpesa_limit_rule": {
        "en": "M-Pesa declined this payment because of a limit on your account. "
        "Call 100 for help.",
        "sw": "M-Pesa imekataa malipo haya kwa sababu ya kikomo kwenye akaunti yako. "
        "Piga 100 kwa msaada.",
    },
    "mpesa_push_failed": {
        "en": "We could not send the M-Pesa request to your phone. No money was taken. Try again.",
        "sw": "Hatukuweza kutuma ombi la M-Pesa kwa simu yako. Hakuna pesa iliyotolewa. "
        "Jaribu tena.",
    },
    "mpesa_subscriber_busy": {
        "en": "M-Pesa is busy with another request on this phone. "
        "Wait one minute and try again.",
        "sw": "M-Pesa inashughulikia ombi lingine kwenye simu hii. "
        "Subiri dakika moja kisha ujaribu tena.",
    },
    "mpesa_throttled": {
        "en": "M-Pesa is busy right now. Wait a few minutes and try again.",
        "sw": "M-Pesa ina shughuli nyingi sasa hivi. Subiri dakika chache kisha ujaribu tena.",
    },
    "mpesa_unavailable": {
        "en": "We could not reach M-Pesa right now. No money was taken. "
        "Try again in a minute.",
        "sw": "Hatukuweza kufikia M-Pesa sasa hivi. Hakuna pesa iliyotolewa. "
        "Jaribu tena baada ya dakika moja.",
    },
    "mpesa_timeout_unknown": {
        "en": "M-Pesa is slow to answer. If a prompt appears on your phone, enter your PIN. "
        "To avoid paying twice, wait 2 minutes before you try again.",
        "sw": "M-Pesa inachelewa kujibu. Ujumbe ukitokea kwenye simu yako, weka PIN yako. "
        "Ili usilipe mara mbili, subiri dakika 2 kabla ya kujaribu tena.",
    },
    "mpesa_request_invalid": {
        "en": "M-Pesa did not accept this request. Check your phone number and try again.",
        "sw": "M-Pesa haikukubali ombi hili. Hakikisha namba yako ya simu ni sahihi "
        "kisha ujaribu tena.",
    },
    "mpesa_merchant_config": {
        "en": "M-Pesa payments are not set up correctly on this Wi-Fi. No money was taken. "
        "Please tell the staff.",
        "sw": "Malipo ya M-Pesa hayajawekwa sawa kwenye Wi-Fi hii. Hakuna pesa iliyotolewa. "
        "Tafadhali mjulishe mhudumu.",
    },
    "mpesa_auth_failed": {
        "en": "M-Pesa payments are not working on this Wi-Fi right now. Please tell the staff.",
        "sw": "Malipo ya M-Pesa hayafanyi kazi kwenye Wi-Fi hii kwa sasa. "
        "Tafadhali mjulishe mhudumu.",
    },
    "mpesa_error": {
        "en": "Something went wrong with M-Pesa. Try again in a minute.",
        "sw": "Kuna tatizo na M-Pesa. Jaribu tena baada ya dakika moja.",
    },
    "mpesa_failed": {
        "en": "The M-Pesa payment did not go through. Try again, or ask the staff for help.",
        "sw": "Malipo ya M-Pesa hayakufanikiwa. Jaribu tena, au omba msaada kwa mhudumu.",
    },
}


def message_for(key: str, lang: str, *, fallback_key: str = "mpesa_failed") -> str:
    """Return the text for ``key`` in ``lang`` ("en", "sw", also "sw-KE"/"sw_KE").

    Unknown keys fall back to ``fallback_key`` and unknown languages to English, so a view can
    never fail for want of a translation.
    """
    texts = MESSAGES.get(key) or MESSAGES[fallback_key]
    base_lang = (lang or "").replace("_", "-").split("-")[0].lower()
    return texts.get(base_lang) or texts[DEFAULT_LANGUAGE]
