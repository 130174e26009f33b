/* The dashboards' charts: reads the page's data from the json_script element #dashboard-data
   (no inline script: the CSP forbids them) and draws them with the vendored ECharts. */
(function () {
  "use strict";
  var node = document.getElementById("dashboard-data");
  if (!node || typeof echarts === "undefined") { return; }
  var data = JSON.parse(node.textContent);
  var charts = [];

  function draw(id, option) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var chart = echarts.init(el, null, { renderer: "canvas" });
    option.animation = false;
    option.tooltip = option.tooltip || { trigger: "axis" };
    chart.setOption(option);
    el.setAttribute("data-drawn", "1");
    charts.push(chart);
  }

  function lines(title, names) {
    var t = data.trend;
    return {
      title: { text: title, textStyle: { fontSize: 14 } },
      legend: { bottom: 0, data: names.map(function (n) { return t.labels[n]; }) },
      grid: { top: 40, left: 56, right: 24, bottom: 56 },
      xAxis: { type: "category", data: t.days },
      yAxis: { type: "value" },
      series: names.map(function (n) {
        return { name: t.labels[n], type: "line", data: t.series[n], showSymbol: t.days.length < 40 };
      })
    };
  }

  function bars(title, rows, label, fields, names) {
    return {
      title: { text: title, textStyle: { fontSize: 14 } },
      legend: { bottom: 0, data: names },
      grid: { top: 40, left: 56, right: 24, bottom: 72 },
      xAxis: { type: "category", data: rows.map(function (r) { return r[label]; }), axisLabel: { interval: 0, rotate: rows.length > 6 ? 30 : 0 } },
      yAxis: { type: "value" },
      series: fields.map(function (f, i) {
        return { name: names[i], type: "bar", data: rows.map(function (r) { return r[f]; }) };
      })
    };
  }

  draw("chart-trend", lines("每日积分", ["points_earned", "points_redeemed", "points_expired", "members_active"]));
  draw("chart-till", lines("每日收银调用与权益核销", ["till_calls", "till_errors", "vouchers_used"]));
  if (data.scenes) {
    draw("chart-scenes", bars("各场景积分", data.scenes, "name", ["points_earned", "points_redeemed"], ["累计积分", "抵扣积分"]));
  }
  if (data.merchants && data.merchants.length) {
    draw("chart-merchants", bars("商户排行（累计积分）", data.merchants, "name", ["points_earned", "points_redeemed"], ["累计积分", "抵扣积分"]));
  }
  if (data.stores && data.stores.length) {
    draw("chart-stores", bars("门店排行（累计积分）", data.stores, "name", ["points_earned", "points_redeemed"], ["累计积分", "抵扣积分"]));
  }
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
