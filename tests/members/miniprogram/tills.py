"""The till's side of a member day, in one place so the lead can switch it: identify with the
dynamic member code and earn through a real dialect (the native signed API, over HTTP when a
base URL is given, else Django's test client), and write a voucher off as a till does in contract
v1.1: identify with the display code (the voucher comes first in ``rights``), then earn with that
voucher in ``rights_used``."""

from __future__ import annotations

import secrets

import requests
from django.test import Client
from django.utils import timezone

from hub.gateway import registry
from hub.gateway.canonical import RightUse, TillCommand


class Till:
    def __init__(self, base_url: str | None = None, vendor: str = "native"):
        self.adapter = registry.get_adapter(vendor)
        self.box = self.adapter.sandbox
        self.keys = self.box.keys()
        self.base_url = base_url
        self.client = requests if base_url else Client()

    def send(self, op: str, **fields):
        command = TillCommand(op=op, store_code=self.box.store, terminal_code=self.box.till, operator="1001", **fields)
        spec = self.adapter.build_request(command, keys=self.keys, nonce=secrets.token_hex(8), timestamp=timezone.now())
        if self.base_url:
            response = requests.request(spec.method, self.base_url + spec.path, data=spec.body, timeout=30,
                                           headers={"Content-Type": spec.content_type, "Connection": "close",
                                                    **spec.headers})
            status, headers, content = response.status_code, dict(response.headers), response.content
        else:
            headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in spec.headers.items()}
            response = self.client.generic(spec.method, spec.path, data=spec.body, content_type=spec.content_type,
                                           **headers)
            status, headers, content = response.status_code, dict(response.headers), response.content
        read = self.adapter.read_response(status, headers, content, self.keys)
        assert read.ok, read
        return read.data

    def identify_and_earn(self, member_code: str, amount_fen: int) -> dict:
        ref = self.send("identify", member=member_code)[self.adapter.helpers.member_field]
        return self.send("earn", request_no="E" + secrets.token_hex(8), member=ref, amount_fen=amount_fen)

    def write_off(self, display_code: str, *, sale_fen: int = 6000, discount_fen: int = 1000) -> dict:
        identified = self.send("identify", member=display_code)
        voucher = identified["rights"][0]
        assert voucher["voucher"] is True, identified["rights"]
        return self.send("earn", request_no="W" + secrets.token_hex(8),
                         member=identified[self.adapter.helpers.member_field], amount_fen=sale_fen - discount_fen,
                         rights_used=(RightUse(voucher["code"], discount_fen),))
