"""The pages a Wi-Fi customer sees: splash, payment status, "I already paid".

They work with JavaScript off inside the captive mini-browser and keep no state in cookies.
"""
