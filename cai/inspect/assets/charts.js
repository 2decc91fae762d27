// Small SVG charts drawn from the numbers cai.inspect.charts puts in the page's data. Names (principles,
// categories, models) are user text: they go in only through textContent. Each bar carries its number in
// data-value (and data-of, data-low, data-high) so what is drawn can be checked against the manifest.
var caiCharts = (function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, text) {
    var node = document.createElementNS(NS, tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, String(attrs[key])); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function titled(node, text) { node.appendChild(svg("title", {}, text)); return node; }

  function short(text, width) { return text.length > width ? text.slice(0, width - 1) + "…" : text; }

  function canvas(width, height, label) {
    return svg("svg", { viewBox: "0 0 " + width + " " + height, width: width, height: height, role: "img",
                        "aria-label": label, class: "chart-svg" });
  }

  function percent(x) { return Math.round(100 * x) + "%"; }

  function histogram(spec) {
    var W = 380, H = 180, left = 34, right = 12, top = 16, bottom = 36;
    var plotW = W - left - right, plotH = H - top - bottom, base = top + plotH;
    var most = Math.max.apply(null, spec.bins.map(function (b) { return b.value; }).concat([1]));
    var node = canvas(W, H, spec.title);
    node.appendChild(svg("line", { x1: left, y1: base, x2: left + plotW, y2: base, class: "axis" }));
    node.appendChild(svg("text", { x: left - 6, y: top + 4, class: "tick end" }, String(most)));
    node.appendChild(svg("text", { x: left - 6, y: base, class: "tick end" }, "0"));
    spec.bins.forEach(function (bin) {
      var x = left + bin.low * plotW, w = Math.max((bin.high - bin.low) * plotW - 2, 1);
      var h = plotH * bin.value / most;
      node.appendChild(titled(svg("rect", { x: x + 1, y: base - h, width: w, height: h, class: "bar",
                                            "data-label": bin.label, "data-value": bin.value }),
                              bin.label + ": " + bin.value + " " + spec.unit));
      if (bin.value) node.appendChild(svg("text", { x: x + 1 + w / 2, y: base - h - 3, class: "tick mid" },
                                          String(bin.value)));
    });
    [0, 0.5, 1].forEach(function (at) {
      node.appendChild(svg("text", { x: left + at * plotW, y: base + 14, class: "tick mid" }, String(at)));
    });
    var mx = left + spec.marker * plotW;
    node.appendChild(titled(svg("line", { x1: mx, y1: top - 6, x2: mx, y2: base + 4, class: "marker",
                                          "data-at": spec.marker }), "0.5: no preference"));
    node.appendChild(svg("text", { x: left + plotW / 2, y: H - 4, class: "tick mid" },
                         "P(second answer better), " + spec.unit + " per bin"));
    return node;
  }

  function bars(spec) {
    var labelW = 190, plotW = 200, rowH = 22, top = 6, W = labelW + plotW + 70;
    var H = top + rowH * spec.rows.length + 4;
    var fractions = spec.rows.some(function (r) { return r.of !== undefined; });
    var most = Math.max.apply(null, spec.rows.map(function (r) { return r.value; }).concat([1]));
    var node = canvas(W, H, spec.title);
    spec.rows.forEach(function (row, i) {
      var y = top + i * rowH, share = fractions ? (row.of ? row.value / row.of : 0) : row.value / most;
      node.appendChild(titled(svg("text", { x: labelW - 8, y: y + 14, class: "tick end" }, short(row.label, 30)),
                              row.label));
      node.appendChild(svg("rect", { x: labelW, y: y + 3, width: plotW, height: rowH - 8, class: "track" }));
      var bar = svg("rect", { x: labelW, y: y + 3, width: Math.max(plotW * share, 0), height: rowH - 8,
                              class: "bar", "data-label": row.label, "data-value": row.value });
      var words = fractions ? row.value + " of " + row.of + " (" + percent(share) + ")" : String(row.value);
      if (fractions) bar.setAttribute("data-of", row.of);
      node.appendChild(titled(bar, row.label + ": " + words + " " + spec.unit));
      node.appendChild(svg("text", { x: labelW + plotW + 6, y: y + 14, class: "tick" }, words));
    });
    return node;
  }

  function rates(spec) {
    var labelW = 190, plotW = 220, barH = 10, gap = 4, top = 22, W = labelW + plotW + 60;
    var models = [];
    spec.rows.forEach(function (row) {
      row.series.forEach(function (s) { if (models.indexOf(s.name) < 0) models.push(s.name); });
    });
    var rowH = models.length * (barH + gap) + 10, H = top + rowH * spec.rows.length + 18;
    var node = canvas(W, H, spec.title);
    models.forEach(function (name, m) {
      node.appendChild(svg("rect", { x: labelW + m * 110, y: 4, width: 10, height: 10, class: "bar s" + (m % 4) }));
      node.appendChild(svg("text", { x: labelW + m * 110 + 14, y: 13, class: "tick" }, short(name, 14)));
    });
    spec.rows.forEach(function (row, i) {
      var y0 = top + i * rowH;
      node.appendChild(titled(svg("text", { x: labelW - 8, y: y0 + rowH / 2 + 2, class: "tick end" },
                                  short(row.label, 30)), row.label + (row.measure ? " (" + row.measure + ")" : "")));
      row.series.forEach(function (s) {
        var m = models.indexOf(s.name), y = y0 + 4 + m * (barH + gap);
        var bar = svg("rect", { x: labelW, y: y, width: plotW * Math.min(Math.max(s.value, 0), 1), height: barH,
                                class: "bar s" + (m % 4), "data-label": row.label, "data-model": s.name,
                                "data-value": s.value });
        var words = s.name + " on " + row.label + ": " + percent(s.value);
        if (s.interval) {
          bar.setAttribute("data-low", s.interval[0]);
          bar.setAttribute("data-high", s.interval[1]);
          words += " (interval " + percent(s.interval[0]) + "–" + percent(s.interval[1]) + ")";
        }
        node.appendChild(titled(bar, words));
        if (s.interval) {
          var lo = labelW + plotW * s.interval[0], hi = labelW + plotW * s.interval[1], mid = y + barH / 2;
          node.appendChild(svg("line", { x1: lo, y1: mid, x2: hi, y2: mid, class: "whisker" }));
          [lo, hi].forEach(function (x) {
            node.appendChild(svg("line", { x1: x, y1: y, x2: x, y2: y + barH, class: "whisker" }));
          });
        }
        node.appendChild(svg("text", { x: labelW + plotW + 6, y: y + barH - 1, class: "tick" }, percent(s.value)));
      });
    });
    var base = H - 16;
    node.appendChild(svg("line", { x1: labelW, y1: base, x2: labelW + plotW, y2: base, class: "axis" }));
    [0, 0.5, 1].forEach(function (at) {
      node.appendChild(svg("text", { x: labelW + at * plotW, y: base + 12, class: "tick mid" }, String(at)));
    });
    return node;
  }

  var DRAW = { histogram: histogram, bars: bars, rates: rates };

  function figure(spec) {
    var draw = DRAW[spec.kind];
    if (!draw) return null;
    var box = document.createElement("figure");
    box.className = "chart";
    box.setAttribute("data-chart", spec.id);
    var heading = document.createElement("h3");
    heading.textContent = spec.title;
    var caption = document.createElement("figcaption");
    caption.className = "muted";
    caption.textContent = spec.caption || "";
    box.appendChild(heading);
    box.appendChild(draw(spec));
    box.appendChild(caption);
    return box;
  }

  return { figure: figure };
})();
