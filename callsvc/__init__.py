"""callsvc: telephony-integrated call tracking."""

__version__ = "0.1.0"
