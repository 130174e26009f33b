/* Camera scanning for the till page: the browser's BarcodeDetector where it has one, else the
 * vendored polyfill (barcode-detector, ZXing-C++ in WebAssembly, hub/static/pos/vendor/), loaded
 * only when the camera is opened. The scanner/typed input is the primary path; this is a help. */
(function () {
  "use strict";
  var FORMATS = ["qr_code", "code_128", "ean_13"];
  var VENDOR = "/static/pos/vendor/barcode-detector/";
  var stream = null, running = false;

  function $(id) { return document.getElementById(id); }
  function status(text) { $("camera-status").textContent = text; }

  function loadPolyfill() {
    return new Promise(function (resolve, reject) {
      if (window.BarcodeDetectionAPI) { return resolve(window.BarcodeDetectionAPI); }
      var s = document.createElement("script");
      s.src = VENDOR + "ponyfill.js";
      s.onload = function () { resolve(window.BarcodeDetectionAPI); };
      s.onerror = function () { reject(new Error("扫码组件加载失败")); };
      document.head.appendChild(s);
    });
  }

  async function detector() {
    if ("BarcodeDetector" in window) {
      try {
        var supported = await window.BarcodeDetector.getSupportedFormats();
        if (supported.indexOf("qr_code") >= 0) { return new window.BarcodeDetector({ formats: FORMATS }); }
      } catch (e) { /* fall through to the polyfill */ }
    }
    var api = await loadPolyfill();
    api.setZXingModuleOverrides({ locateFile: function (path) { return VENDOR + path; } });
    return new api.BarcodeDetector({ formats: FORMATS });
  }

  async function open() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      $("camera").hidden = false;
      status("本浏览器无法使用摄像头（需 HTTPS 或本机访问），请用扫码枪或手动输入");
      return;
    }
    $("camera").hidden = false;
    status("正在打开摄像头…");
    try {
      var found = await detector();
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
      var video = $("camera-video");
      video.srcObject = stream;
      await video.play();
      status("请将会员码或权益码对准取景框");
      running = true;
      while (running) {
        var codes = await found.detect(video).catch(function () { return []; });
        if (codes.length && codes[0].rawValue) {
          close();
          window.posScanned(codes[0].rawValue);
          return;
        }
        await new Promise(function (r) { setTimeout(r, 250); });
      }
    } catch (e) {
      close(true);
      status("无法使用摄像头：" + (e && e.message ? e.message : e) + "。请用扫码枪或手动输入");
    }
  }

  function close(keepStatus) {
    running = false;
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); stream = null; }
    if (!keepStatus) { $("camera").hidden = true; status(""); }
    $("scan").focus();
  }

  $("camera-open").addEventListener("click", open);
  $("camera-close").addEventListener("click", function () { close(); });
})();
