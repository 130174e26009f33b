"""The hub's own till API (``/api/v1/till/``): JSON, fen and points as integers, HMAC-SHA256 signed."""
