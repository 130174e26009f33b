"""智百威 Zhibaiwei: named methods, JSON body, MD5 KEY over the payload, money in yuan strings."""
