"""Camera scanning on the till page: the vendored barcode-detector polyfill (ZXing in
WebAssembly) loads from the hub itself under the page's CSP, reads a member's QR code, and the
code it reads goes down the same path as a typed one. Nothing is fetched from anywhere else."""

from __future__ import annotations

import pytest

from rights.vouchers import qr_svg
from tests.browser import pos_world as w

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(transactional_db):
    return w.build()

DETECT = """async (svg) => {
  await new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = '/static/pos/vendor/barcode-detector/ponyfill.js';
    s.onload = resolve; s.onerror = reject; document.head.appendChild(s);
  });
  BarcodeDetectionAPI.setZXingModuleOverrides({locateFile: (p) => '/static/pos/vendor/barcode-detector/' + p});
  const img = new Image();
  img.src = URL.createObjectURL(new Blob([svg], {type: 'image/svg+xml'}));
  await img.decode();
  const canvas = document.createElement('canvas'); canvas.width = 480; canvas.height = 480;
  const g = canvas.getContext('2d'); g.fillStyle = '#fff'; g.fillRect(0, 0, 480, 480);
  g.drawImage(img, 40, 40, 400, 400);
  const found = await new BarcodeDetectionAPI.BarcodeDetector({formats: ['qr_code']}).detect(g.getImageData(0, 0, 480, 480));
  return found.map(f => f.rawValue);
}"""


def test_the_vendored_polyfill_reads_a_member_code_under_the_pages_csp(phone, world, live_server):
    page = phone
    w.sign_in(page, world)
    requested = []
    page.on("request", lambda r: requested.append(r.url))
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    code = w.member_code()
    read = page.evaluate(DETECT, qr_svg(code).decode())
    assert read == [code]
    assert any(u.endswith("/zxing_reader.wasm") for u in requested)
    assert all(u.startswith(live_server.url) or u.startswith("blob:") for u in requested), requested
    assert violations == []
    page.evaluate("(value) => window.posScanned(value)", read[0])  # what scan.js does with a read
    page.locator("#member").wait_for(state="visible")
    assert page.locator("#m-mobile").inner_text() == "138****0001"


def test_typing_works_without_a_camera(phone, world):
    page = phone
    page.add_init_script("Object.defineProperty(navigator, 'mediaDevices', {value: undefined})")
    w.sign_in(page, world)
    page.get_by_role("button", name="用摄像头扫码").click()
    assert "无法使用摄像头" in page.locator("#camera-status").inner_text()
    w.identify(page, w.member_code())
    page.locator("#member").wait_for(state="visible")
