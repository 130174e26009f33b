"""The member mini-program (老俵情 Laobiaoqing): WeChat (later Alipay) identities, the hub's own
member sessions, and the thin ``/api/mp/v1/`` views over the members, points and rights services.

- ``clients``: the pluggable sign-in clients (``settings.HUB_MINIPROGRAM_CLIENTS``): the real
  WeChat HTTPS client and the deterministic fake of the sandbox;
- ``models``: ``MpIdentity`` (channel × app id × subject → member), ``MpSession`` (opaque bearer
  tokens, keyed digest stored, sliding idle expiry) and ``MpRequest`` (first answers by
  ``request_no``);
- ``sessions``: sign-in, phone binding, token checks, logout; ``services``: the member's own
  writes that orchestrate existing services (link with proof, close the account);
- ``selectors``: what the pages read; ``views`` / ``urls`` / ``schema``: the contract.
"""
