"""智慧云POS: the hub's own web till, one more adapter of the gateway (session + enrolled device)."""
