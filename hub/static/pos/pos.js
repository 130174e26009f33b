/* 智慧云POS — the till page. Every operation goes to the hub's gateway (/pos/api/<op>).
 *
 * A till a cashier can trust:
 * - the request number is made here and kept (localStorage) before the request is sent;
 * - one operation at a time: a second tap while one is under way sends nothing;
 * - an answer that does not come (timeout, lost connection, a body that cannot be read, the
 *   hub's SYSTEM_ERROR) is "unknown": the page asks the hub for that request number (query) and
 *   then asks for the request itself again with the same number and content, which the hub
 *   answers with its stored first answer and never does twice; it never makes a new number and
 *   never shows a success it did not get. A request still unknown when the page closes is
 *   looked up again when the page opens.
 */
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("pos-config").textContent);
  var csrf = document.querySelector("#csrf-holder input[name=csrfmiddlewaretoken]").value;
  var offset = config.serverTime - Date.now(); // the hub's clock minus ours
  var KEY = "pos:" + config.store + ":" + config.terminal;
  var PENDING = KEY + ":pending";
  var JOURNAL = KEY + ":journal:";
  var TIMEOUT_MS = 12000;
  var LEDGER_OPS = { earn: 1, redeem: 1, refund: 1, reverse: 1 }; // known to the hub's query
  var AUTH_CODES = { SIGN_ERROR: 1, NO_AUTH: 1, TIMESTAMP_EXPIRED: 1, NONCE_REUSED: 1, RATE_LIMITED: 1 };
  var OP_NAMES = { identify: "会员查询", earn: "积分累计", redeem: "积分抵扣", refund: "退货", reverse: "冲正",
                   voucher: "权益核销", day_end: "日结", query: "查询" };
  var busy = false;
  var member = null; // the last identify answer
  var voucher = null; // the rights item (from identify) being written off
  var quote = null; // {points, amount_fen} shown before a redemption
  var idleTimer = null;

  function $(id) { return document.getElementById(id); }

  // ---- storage --------------------------------------------------------------------------------
  function load(key, fallback) {
    try { var v = localStorage.getItem(key); return v ? JSON.parse(v) : fallback; } catch (e) { return fallback; }
  }
  function save(key, value) { localStorage.setItem(key, JSON.stringify(value)); }
  function shanghai() { return new Date(Date.now() + offset + 8 * 3600 * 1000); }
  function today() { return shanghai().toISOString().slice(0, 10); }
  function journal() { return load(JOURNAL + today(), []); }
  function record(entry) {
    var list = journal();
    var at = list.findIndex(function (e) { return e.request_no === entry.request_no; });
    if (at >= 0) { list[at] = Object.assign(list[at], entry); } else { list.push(entry); }
    save(JOURNAL + today(), list);
  }

  function hex(bytes) {
    return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), function (b) {
      return b.toString(16).padStart(2, "0");
    }).join("").toUpperCase();
  }
  function newRequestNo() { // e.g. CP01261202115312A3F9C1: terminal, yyMMddHHmmss (Beijing), random
    var stamp = shanghai().toISOString().replace(/[-:TZ.]/g, "").slice(2, 14);
    return config.terminal + stamp + hex(3);
  }

  // ---- money: yuan strings <-> fen, integers only ---------------------------------------------
  var YUAN = /^(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?$/;
  function yuan(fen) {
    if (fen === null || fen === undefined) { return "—"; }
    var sign = fen < 0 ? "-" : ""; fen = Math.abs(fen);
    return sign + "¥" + Math.floor(fen / 100) + "." + String(fen % 100).padStart(2, "0");
  }
  function readYuan(input, name, optional) {
    var value = input.value.trim();
    if (!value && optional) { return null; }
    if (!YUAN.test(value)) { throw new Error(name + "格式错误：请输入元，最多两位小数"); }
    return value;
  }
  function readPoints(input) {
    var value = input.value.trim();
    if (!/^[1-9][0-9]{0,9}$/.test(value)) { throw new Error("抵扣积分须为正整数"); }
    return parseInt(value, 10);
  }

  // ---- the network ----------------------------------------------------------------------------
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  // One call; resolves to the hub's envelope, or null when the outcome is unknown.
  function post(op, fields) {
    var body = Object.assign({ nonce: hex(8), ts: Math.floor((Date.now() + offset) / 1000),
                               store: config.store, terminal: config.terminal }, fields);
    var ctrl = new AbortController();
    var timer = setTimeout(function () { ctrl.abort(); }, TIMEOUT_MS);
    return fetch("/pos/api/" + op, {
      method: "POST", credentials: "same-origin", cache: "no-store", signal: ctrl.signal,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify(body)
    }).then(function (resp) {
      if (resp.status !== 200) { return null; }
      return resp.json().then(function (env) {
        if (!env || typeof env.ok !== "boolean") { return null; }
        if (!env.ok && env.code === "SYSTEM_ERROR") { return null; } // the hub could not say: ask again
        return env;
      });
    }).catch(function () { return null; }).finally(function () { clearTimeout(timer); });
  }

  function read(path) {
    var ctrl = new AbortController();
    var timer = setTimeout(function () { ctrl.abort(); }, TIMEOUT_MS);
    return fetch(path, { credentials: "same-origin", cache: "no-store", signal: ctrl.signal })
      .then(function (resp) { return resp.status === 200 ? resp.json() : null; })
      .catch(function () { return null; }).finally(function () { clearTimeout(timer); });
  }

  async function readRetrying(path) {
    for (var attempt = 1; attempt <= 6; attempt++) {
      var env = await read(path);
      if (env) { return env; }
      showNet("网络异常，正在重试…");
      await sleep(300 * attempt);
    }
    return null;
  }

  // After an unknown outcome: what did the hub do with this request? A known answer, or
  // {unknown: true} when it cannot be learnt now (the request stays pending).
  async function recover(request) {
    var op = request.op, fields = request.fields, found = !!request.found;
    if (LEDGER_OPS[op] && !found) {
      var target = op === "reverse" ? fields.original_request_no : fields.request_no;
      var q = await post("query", { original_request_no: target });
      if (q === null) { return null; }
      if (q.ok) {
        found = op !== "reverse" || q.data.status === "REVERSED";
        if (found) { request.found = true; if (request.fields.request_no) { save(PENDING, request); } }
        showNet("中心已收到单号 " + target + "，正在取回结果…");
      } else if (q.code !== "ORDER_NOT_EXIST") {
        return { unknown: true, message: q.message };
      } else {
        showNet("中心未收到单号 " + fields.request_no + "，以同一单号重新提交…");
      }
    }
    // The same number and content again: the hub answers its first answer, or does it once now.
    var env = await post(op, fields);
    if (env && !env.ok && AUTH_CODES[env.code] && (found || !LEDGER_OPS[op])) {
      return { unknown: true, message: env.message };
    }
    return env;
  }

  function setBusy(on) {
    busy = on;
    document.querySelectorAll("button.confirm, #scan-go").forEach(function (b) { b.disabled = on; });
    document.body.setAttribute("aria-busy", on ? "true" : "false");
  }

  // Run one operation to a known end. ``keep``: store it as pending (operations with an effect).
  async function perform(op, fields, keep) {
    if (busy) { return null; }
    setBusy(true);
    var request = { op: op, fields: Object.assign({}, fields) };
    if (keep) {
      request.fields.request_no = request.fields.request_no || newRequestNo();
      save(PENDING, request); // kept before it is sent
    }
    try {
      showNet(keep ? "正在提交 " + OP_NAMES[op] + "…" : "");
      var env = await post(op, request.fields);
      var tries = 0;
      while (env === null) {
        tries += 1;
        showNet("网络异常，结果未知：正在向中心查询单号 " + (request.fields.request_no || "") + " 的结果…（第 " + tries + " 次）");
        await sleep(Math.min(250 * tries, 2000));
        env = keep ? await recover(request) : await post(op, request.fields);
      }
      clearNet();
      if (!env.unknown && keep) { localStorage.removeItem(PENDING); }
      return { request: request, env: env };
    } finally {
      setBusy(false);
    }
  }

  // ---- screens --------------------------------------------------------------------------------
  var PANELS = ["member", "earn-panel", "redeem-panel", "voucher-panel", "refund-panel", "reverse-panel", "result",
                "today-panel", "dayend-panel"];
  function show(ids) {
    PANELS.forEach(function (id) { $(id).hidden = ids.indexOf(id) < 0; });
  }
  function home() {
    show(member ? ["member"] : []);
    $("scan").focus();
  }
  function showNet(text) { $("net").textContent = text; }
  function clearNet() { $("net").textContent = ""; }

  function fact(list, name, value) {
    var div = document.createElement("div");
    var dt = document.createElement("dt"); dt.textContent = name;
    var dd = document.createElement("dd"); dd.textContent = value;
    div.appendChild(dt); div.appendChild(dd); list.appendChild(div);
  }

  function result(kind, title, message, hint, facts, requestNo) {
    var box = $("result");
    box.className = "card " + kind;
    $("result-title").textContent = title;
    $("result-message").textContent = message || "";
    $("result-hint").textContent = hint || "";
    var list = $("result-facts"); list.textContent = "";
    (facts || []).forEach(function (f) { fact(list, f[0], f[1]); });
    $("result-no").textContent = requestNo || "—";
    box.setAttribute("data-outcome", kind);
    show(["result"]);
    box.focus();
  }

  function refused(op, outcome) {
    var env = outcome.env;
    if (env.unknown) {
      result("unknown", OP_NAMES[op] + "结果未确认", "暂时无法向中心确认结果：" + env.message,
             "请勿重复收款。重新登录后本页会自动再次查询，或在“今日交易”中核对单号。", [], outcome.request.fields.request_no);
      return;
    }
    result("fail", OP_NAMES[op] + "未成功", env.message, env.hint, [["结果码", env.code]],
           outcome.request.fields.request_no);
    if (env.code === "NO_AUTH" && /登录|退出/.test(env.message)) {
      setTimeout(function () { window.location.assign("/pos/login/"); }, 2500);
    }
  }

  function renderMember(data) {
    member = data;
    $("m-name").textContent = data.name_masked || "";
    $("m-mobile").textContent = data.mobile_masked || "—";
    $("m-tier").textContent = data.tier || "—";
    $("m-points").textContent = data.points + " 分";
    $("m-value").textContent = yuan(data.points_value_fen);
    $("m-redeemable").textContent = data.redeemable_points + " 分";
    var list = $("m-rights"); list.textContent = "";
    var items = data.rights || [];
    items.forEach(function (r) {
      var li = document.createElement("li");
      var text = document.createElement("span");
      text.textContent = (r.name || r.code) + "（" + ruleOf(r) + "）";
      li.appendChild(text);
      if (r.voucher) {
        var use = document.createElement("button");
        use.type = "button"; use.className = "plain"; use.textContent = "核销";
        use.setAttribute("aria-label", "核销 " + (r.name || r.code));
        use.addEventListener("click", function () { touch(); openVoucher(r); });
        li.appendChild(use);
      }
      list.appendChild(li);
    });
    if (!items.length) {
      var none = document.createElement("li"); none.textContent = "暂无可在本店使用的权益"; list.appendChild(none);
    }
    show(["member"]);
  }

  // ---- the one input --------------------------------------------------------------------------
  async function scanned(raw) {
    var value = String(raw || "").trim();
    if (!value || busy) { return; }
    $("scan").value = "";
    // 96… member codes, 97… voucher display codes (they name the member too, contract v1.1),
    // mobiles (where the agreement allows) and card numbers: the hub reads the shape.
    var outcome = await perform("identify", { member: value }, false);
    if (!outcome) { return; }
    if (!outcome.env.ok) { return refused("identify", outcome); }
    renderMember(outcome.env.data);
    var first = (outcome.env.data.rights || [])[0];
    if (/^97[0-9]{16}$/.test(value) && first && first.voucher) { openVoucher(first); }
  }
  window.posScanned = scanned; // the camera (scan.js) hands its codes here

  function ruleOf(item) {
    var rule = [];
    if (item.discount_fen) { rule.push("立减 " + yuan(item.discount_fen)); }
    if (item.discount_bp) { rule.push((item.discount_bp / 1000).toFixed(item.discount_bp % 100 ? 2 : 1).replace(/\.?0+$/, "") + " 折"); }
    if (item.threshold_fen) { rule.push("满 " + yuan(item.threshold_fen) + " 可用"); }
    return rule.join("，") || "按权益说明";
  }

  function openVoucher(item) {
    voucher = item;
    $("v-name").textContent = item.name || item.code;
    $("v-rule").textContent = ruleOf(item);
    $("v-member").textContent = (member && (member.name_masked + " " + (member.mobile_masked || ""))) || "—";
    $("v-sale").value = "";
    $("v-discount").value = item.discount_fen ? (item.discount_fen / 100).toFixed(2) : "";
    show(["member", "voucher-panel"]);
    $("v-sale").focus();
  }

  // ---- operations -----------------------------------------------------------------------------
  function inputError(err) { result("fail", "输入有误", err.message, "", [], ""); }

  async function earn() {
    var amount;
    try { amount = readYuan($("earn-amount"), "实付金额"); } catch (e) { return inputError(e); }
    var outcome = await perform("earn", { member: member.member_ref, amount: amount }, true);
    if (!outcome) { return; }
    var env = outcome.env;
    if (!env.ok) { return refused("earn", outcome); }
    var no = outcome.request.fields.request_no;
    record({ request_no: no, op: "earn", points: env.data.points_earned, amount: amount, at: Date.now() });
    member.points = env.data.points_balance;
    result("ok", "积分累计成功", "获得 " + env.data.points_earned + " 积分", "",
           [["实付金额", "¥" + amount], ["获得积分", env.data.points_earned + " 分"], ["积分余额", env.data.points_balance + " 分"]], no);
    $("earn-amount").value = "";
  }

  async function quoteRedeem() {
    var points;
    try { points = readPoints($("redeem-points")); } catch (e) { return inputError(e); }
    if (busy) { return; }
    var env = await readRetrying("/pos/read/quote?points=" + points);
    clearNet();
    if (!env) { return result("unknown", "无法计算", "网络异常，请重试", "", [], ""); }
    if (!env.ok) { return result("fail", "无法计算", env.message, "", [], ""); }
    quote = env.data;
    $("redeem-value").textContent = "抵扣 " + quote.points + " 积分 = " + yuan(quote.amount_fen) +
      (member && quote.points > member.redeemable_points ? "（超出当前可抵扣 " + member.redeemable_points + " 分）" : "");
    $("redeem-confirm").hidden = false;
    $("redeem-go").focus();
  }

  async function redeem() {
    if (!quote) { return; }
    var q = quote;
    var outcome = await perform("redeem", { member: member.member_ref, points: q.points,
                                            amount: (q.amount_fen / 100).toFixed(2) }, true);
    if (!outcome) { return; }
    var env = outcome.env;
    quote = null; $("redeem-confirm").hidden = true;
    if (!env.ok) { return refused("redeem", outcome); }
    var no = outcome.request.fields.request_no;
    record({ request_no: no, op: "redeem", points: env.data.points, amount_fen: env.data.amount_fen, at: Date.now() });
    member.points = env.data.points_balance;
    result("ok", "积分抵扣成功", "抵扣 " + yuan(env.data.amount_fen), "请按抵扣后的金额收款",
           [["抵扣积分", env.data.points + " 分"], ["抵扣金额", yuan(env.data.amount_fen)], ["积分余额", env.data.points_balance + " 分"]], no);
    $("redeem-points").value = "";
  }

  // A voucher is written off with the sale it discounts: one earn carrying rights_used (v1.1),
  // so the use is in the earn's own transaction and a refund or reverse undoes it.
  async function writeOff() {
    if (!voucher || !member) { return; }
    var sale, discount;
    try { sale = readYuan($("v-sale"), "实付金额"); discount = readYuan($("v-discount"), "优惠金额"); }
    catch (e) { return inputError(e); }
    var item = voucher;
    var outcome = await perform("earn", { member: member.member_ref, amount: sale,
                                          rights_used: [{ code: item.code, discount: discount }] }, true);
    if (!outcome) { return; }
    var env = outcome.env;
    if (!env.ok) { return refused("voucher", outcome); }
    voucher = null;
    var no = outcome.request.fields.request_no;
    record({ request_no: no, op: "earn", points: env.data.points_earned, amount: sale, voucher: item.name, at: Date.now() });
    member.points = env.data.points_balance;
    member.rights = (member.rights || []).filter(function (r) { return r.code !== item.code; });
    result("ok", "权益核销成功", (item.name || "") + " 已核销", "请按优惠后的金额收款",
           [["权益", item.name || item.code], ["优惠金额", "¥" + discount], ["实付金额", "¥" + sale],
            ["获得积分", env.data.points_earned + " 分"], ["积分余额", env.data.points_balance + " 分"]], no);
  }

  async function refund() {
    var original = $("refund-original").value.trim(), amount;
    if (!original) { return inputError(new Error("请输入原交易单号")); }
    try { amount = readYuan($("refund-amount"), "退货金额"); } catch (e) { return inputError(e); }
    var outcome = await perform("refund", { original_request_no: original, amount: amount }, true);
    if (!outcome) { return; }
    var env = outcome.env;
    if (!env.ok) { return refused("refund", outcome); }
    var no = outcome.request.fields.request_no;
    record({ request_no: no, op: "refund", original: original,
             points: (env.data.points_clawed_back || 0) + (env.data.points_returned || 0), at: Date.now() });
    result("ok", "退货成功", "退货金额 ¥" + amount, "", [["原交易", original], ["扣回积分", env.data.points_clawed_back + " 分"],
           ["退回积分", env.data.points_returned + " 分"], ["积分余额", env.data.points_balance + " 分"]], no);
    $("refund-original").value = ""; $("refund-amount").value = "";
  }

  function lastOperation() {
    var list = journal().filter(function (e) { return !e.reversed && LEDGER_OPS[e.op] && e.op !== "reverse"; });
    return list.length ? list[list.length - 1] : null;
  }

  function openReverse() {
    var last = lastOperation();
    $("reverse-what").textContent = last ? "上一笔：" + OP_NAMES[last.op] + " 单号 " + last.request_no +
      (last.points ? "，" + last.points + " 积分" : "") : "本机今日没有可冲正的交易";
    $("reverse-go").disabled = !last;
    $("reverse-pin").value = "";
  }

  async function reverse() {
    var last = lastOperation();
    if (!last) { return; }
    var pin = $("reverse-pin").value.trim();
    if (!/^[0-9]{4,8}$/.test(pin)) { return inputError(new Error("请输入 4 到 8 位主管密码")); }
    var outcome = await perform("reverse", { original_request_no: last.request_no, supervisor_pin: pin }, true);
    $("reverse-pin").value = "";
    if (!outcome) { return; }
    var env = outcome.env;
    if (!env.ok) { return refused("reverse", outcome); }
    record({ request_no: last.request_no, reversed: true });
    result("ok", "冲正成功", OP_NAMES[last.op] + " " + last.request_no + " 已冲正", "", [], last.request_no);
  }

  function totalsOf(list) {
    var t = { earn_count: 0, earn_points: 0, redeem_count: 0, redeem_points: 0, refund_count: 0, refund_points: 0 };
    list.forEach(function (e) {
      if (e.reversed || !(e.op in { earn: 1, redeem: 1, refund: 1 })) { return; }
      t[e.op + "_count"] += 1; t[e.op + "_points"] += e.points || 0;
    });
    return t;
  }
  var TOTAL_NAMES = [["earn_count", "累计笔数"], ["earn_points", "累计积分"], ["redeem_count", "抵扣笔数"],
                     ["redeem_points", "抵扣积分"], ["refund_count", "退货笔数"], ["refund_points", "退货积分"]];

  function todayRow(op) {
    var li = document.createElement("li");
    var what = document.createElement("strong"); what.textContent = op.kind_name + " · " + op.status_name;
    var no = document.createElement("span"); no.className = "no"; no.textContent = op.request_no;
    var detail = document.createElement("span");
    detail.textContent = op.at + (op.points ? " · " + op.points + " 积分" : "") + (op.amount_fen ? " · " + yuan(op.amount_fen) : "") +
      (op.refunded_fen ? " · 已退 " + yuan(op.refunded_fen) : "") + (op.error_code ? " · " + op.error_code : "");
    li.appendChild(what); li.appendChild(no); li.appendChild(detail);
    li.setAttribute("data-request-no", op.request_no);
    if ((op.kind === "earn" || op.kind === "redeem") && op.status === "success" && op.refunded_fen < op.amount_fen) {
      var back = document.createElement("button");
      back.type = "button"; back.className = "plain"; back.textContent = "退货";
      back.setAttribute("aria-label", "退货 " + op.request_no);
      back.addEventListener("click", function () {
        touch();
        show(["refund-panel"]);
        $("refund-original").value = op.request_no;
        $("refund-amount").value = "";
        $("refund-amount").focus();
      });
      li.appendChild(back);
    }
    return li;
  }

  async function openToday() {
    var list = $("today-list"); list.textContent = "";
    var env = await readRetrying("/pos/read/today");
    clearNet();
    if (!env || !env.ok) { list.textContent = env ? env.message : "网络异常，请稍后再试"; return; }
    env.data.operations.forEach(function (op) { list.appendChild(todayRow(op)); });
    if (!env.data.operations.length) { list.textContent = "今日本终端尚无交易"; }
  }

  async function openDayEnd(keepResult) {
    if (!keepResult) { $("dayend-result").textContent = ""; }
    var rows = $("dayend-rows"); rows.textContent = "";
    var env = await readRetrying("/pos/read/today");
    clearNet();
    var mine = totalsOf(journal());
    var hub = env && env.ok ? env.data.hub_totals : null;
    TOTAL_NAMES.forEach(function (pair) {
      var tr = document.createElement("tr");
      var th = document.createElement("td"); th.textContent = pair[1];
      var a = document.createElement("td"); a.textContent = mine[pair[0]];
      var b = document.createElement("td"); b.textContent = hub ? hub[pair[0]] : "—";
      if (hub && hub[pair[0]] !== mine[pair[0]]) { tr.className = "differs"; }
      tr.appendChild(th); tr.appendChild(a); tr.appendChild(b); rows.appendChild(tr);
    });
  }

  async function dayEnd() {
    var outcome = await perform("day_end", { biz_date: today(), totals: totalsOf(journal()) }, false);
    if (!outcome) { return; }
    var env = outcome.env;
    if (!env.ok) { $("dayend-result").textContent = "日结未成功：" + env.message; return; }
    $("dayend-result").textContent = env.data.matched ? "日结成功：本机记录与中心一致" :
      "日结已提交：有 " + env.data.differences.length + " 项与中心不一致，请以中心记录为准并联系店长";
    openDayEnd(true);
  }

  // ---- idle timeout: the hub ends the session; the page goes to log-in a little after ----------
  function touch() {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(function () { window.location.assign("/pos/login/"); }, (config.idleSeconds + 5) * 1000);
  }

  // ---- wiring ---------------------------------------------------------------------------------
  function on(id, event, handler) {
    $(id).addEventListener(event, function (e) {
      e.preventDefault();
      // A second tap that lands after the screen moved on (its form no longer shown, e.g. behind
      // the result of the first) is not a new request: it must not paint over the real outcome.
      if (e.currentTarget.closest("[hidden]")) { return; }
      touch(); handler(e);
    });
  }
  on("scan-form", "submit", function () { scanned($("scan").value); });
  on("earn-form", "submit", earn);
  on("redeem-form", "submit", quoteRedeem);
  on("redeem-go", "click", redeem);
  on("voucher-form", "submit", writeOff);
  on("refund-form", "submit", refund);
  on("reverse-form", "submit", reverse);
  on("dayend-go", "click", dayEnd);
  on("result-done", "click", home);
  on("member-clear", "click", function () { member = null; home(); });
  $("redeem-points").addEventListener("input", function () { quote = null; $("redeem-confirm").hidden = true; });
  document.querySelectorAll("[data-show]").forEach(function (button) {
    button.addEventListener("click", function () {
      touch();
      var id = button.getAttribute("data-show");
      if ((id === "earn-panel" || id === "redeem-panel") && !member) { return; }
      show(member && id !== "today-panel" && id !== "dayend-panel" && id !== "refund-panel" && id !== "reverse-panel"
        ? ["member", id] : [id]);
      if (id === "reverse-panel") { openReverse(); }
      if (id === "today-panel") { openToday(); }
      if (id === "dayend-panel") { openDayEnd(false); }
      var first = $(id).querySelector("input");
      if (first) { first.focus(); }
    });
  });
  document.querySelectorAll("[data-back]").forEach(function (button) {
    button.addEventListener("click", function () { touch(); home(); });
  });
  touch();

  // A request left unknown (the page closed, the session ended): find out what became of it.
  var left = load(PENDING, null);
  if (left && left.op && left.fields) {
    (async function () {
      setBusy(true);
      showNet("上次的" + OP_NAMES[left.op] + "（单号 " + left.fields.request_no + "）结果未知，正在向中心查询…");
      var env = null, tries = 0;
      while (env === null) { tries += 1; env = await recover(left); if (env === null) { await sleep(Math.min(400 * tries, 3000)); } }
      setBusy(false);
      clearNet();
      if (env.unknown) { return refused(left.op, { request: left, env: env }); }
      localStorage.removeItem(PENDING);
      if (env.ok && left.op === "reverse") { record({ request_no: left.fields.original_request_no, reversed: true }); }
      if (env.ok && left.op !== "reverse") {
        record({ request_no: left.fields.request_no, op: left.op, at: Date.now(),
                 points: env.data.points_earned || env.data.points || ((env.data.points_clawed_back || 0) + (env.data.points_returned || 0)) });
      }
      if (env.ok) {
        result("ok", "上次" + OP_NAMES[left.op] + "已成功", "中心已记录单号 " + left.fields.request_no, "无需重复操作", [], left.fields.request_no);
      } else {
        refused(left.op, { request: left, env: env });
      }
    })();
  }
  $("scan").focus();
})();
