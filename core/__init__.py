"""FrontDesk domain core: no Qt, no network clients, no keyring."""
