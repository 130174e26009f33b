"""科脉 Kemai: REST JSON, HMAC-SHA256 Authorization header, signed responses, money in fen."""
