// Draws the plots of a page (tree, curves, sweep) and, on the server, keeps them live;
// in the report file, shows the section the URL fragment names.
(function () {
  "use strict";
  var H = window.HARNESS || {};
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  var CONFIG = { responsive: true, displaylogo: false };

  function json(root, name) {
    var el = root.querySelector('script[data-json="' + name + '"]');
    return el ? JSON.parse(el.textContent) : null;
  }

  function drawn(div) {
    return function () { div.classList.add("drawn"); };
  }

  function symbol(node) {
    if (node.status === "duplicate") return "circle-open";
    if (node.status === "failed") return "x";
    if (node.status === "rejected_novelty") return "diamond-open";
    return "circle";
  }

  function treeTraces(data) {
    var byId = {}, ex = [], ey = [], islands = {}, order = [];
    data.nodes.forEach(function (n) { byId[n.id] = n; });
    data.nodes.forEach(function (n) {
      var p = n.parent === null ? undefined : byId[n.parent];
      if (p) { ex.push(p.x, n.x, null); ey.push(p.y, n.y, null); }
      var k = n.island === null ? "nodes" : "island " + n.island;
      if (!islands[k]) { islands[k] = []; order.push(k); }
      islands[k].push(n);
    });
    var traces = [{ type: "scatter", mode: "lines", x: ex, y: ey, name: "edges",
                    hoverinfo: "skip", showlegend: false,
                    line: { width: 1, color: "#c8c8c8" } }];
    var path = data.best_path.map(function (id) { return byId[id]; });
    traces.push({ type: "scatter", mode: "lines", name: "best path", hoverinfo: "skip",
                  x: path.map(function (n) { return n.x; }),
                  y: path.map(function (n) { return n.y; }),
                  line: { width: 4, color: "#222" } });
    order.forEach(function (k, i) {
      var ns = islands[k];
      traces.push({
        type: "scatter", mode: "markers", name: k,
        x: ns.map(function (n) { return n.x; }), y: ns.map(function (n) { return n.y; }),
        customdata: ns.map(function (n) { return n.id; }),
        text: ns.map(function (n) {
          return "#" + n.id + " " + (n.name || "") + "<br>" + n.status +
            (n.score === null ? "" : " " + n.score.toPrecision(6));
        }),
        hovertemplate: "%{text}<extra></extra>",
        marker: { size: 8, color: PALETTE[i % PALETTE.length], symbol: ns.map(symbol),
                  line: { width: 1.5, color: PALETTE[i % PALETTE.length] } }
      });
    });
    return traces;
  }

  function drawTree(div, data) {
    var layout = { margin: { l: 40, r: 10, t: 10, b: 30 }, hovermode: "closest",
                   xaxis: { visible: false }, legend: { orientation: "h" },
                   yaxis: { autorange: "reversed", title: { text: "generation" } } };
    return Plotly.react(div, treeTraces(data), layout, CONFIG).then(function () {
      div.dataset.nodes = String(data.count);
      div.classList.add("drawn");
      window.harnessTreeDrawn = performance.now();
      if (!div.dataset.clicks) {
        div.dataset.clicks = "1";
        div.on("plotly_click", function (ev) {
          var id = ev.points[0] && ev.points[0].customdata;
          if (id !== undefined && id !== null) {
            window.location.href = div.dataset.nodeHref.replace("{id}", String(id));
          }
        });
      }
    });
  }

  function line(x, y, name, extra) {
    return Object.assign({ type: "scatter", mode: "lines", x: x, y: y, name: name }, extra || {});
  }

  function knownLine(curves, x) {
    if (curves.best_known === null || !x.length) return [];
    return [line([x[0], x[x.length - 1]], [curves.best_known, curves.best_known], "best known",
                 { line: { dash: "dash", color: "#888" } })];
  }

  function drawCurves(root, curves) {
    var p = curves.points, pick = function (k) { return p.map(function (q) { return q[k]; }); };
    var base = { margin: { l: 50, r: 10, t: 10, b: 40 }, yaxis: { title: { text: "score" } } };
    var evals = pick("index");
    var plots = [["curve-evals", [
      { type: "scatter", mode: "markers", x: evals, y: pick("score"), name: "evaluation",
        customdata: pick("node"), hovertemplate: "node %{customdata}: %{y}<extra></extra>",
        marker: { size: 5, color: "#9ab" } },
      line(evals, pick("best"), "best so far", { line: { shape: "hv", width: 2 } })
    ].concat(knownLine(curves, evals)), "evaluations"],
      ["curve-time", [line(pick("seconds"), pick("best"), "best so far",
                           { line: { shape: "hv" } })], "seconds since the run started"]];
    if (curves.has_cost) {
      plots.push(["curve-cost", [line(pick("cost"), pick("best"), "best so far",
                                      { line: { shape: "hv" } })], "LLM cost (USD)"]);
    }
    return Promise.all(plots.map(function (spec) {
      var div = root.querySelector("#" + spec[0]);
      var layout = Object.assign({}, base, { xaxis: { title: { text: spec[2] } } });
      return Plotly.react(div, spec[1], layout, CONFIG).then(drawn(div));
    }));
  }

  function drawSweep(root, sweep) {
    var div = root.querySelector("#sweep-curves"), traces = [];
    sweep.groups.forEach(function (g, i) {
      var color = PALETTE[i % PALETTE.length];
      var x = g.mean.map(function (_, j) { return j + 1; });
      traces.push(line(x, g.low, g.label + " min", { line: { width: 0 }, showlegend: false,
                                                     hoverinfo: "skip" }));
      traces.push(line(x, g.high, g.label + " band", { line: { width: 0 }, fill: "tonexty",
                                                       fillcolor: color + "33",
                                                       showlegend: false, hoverinfo: "skip" }));
      traces.push(line(x, g.mean, g.label, { line: { color: color, width: 2 } }));
    });
    var layout = { margin: { l: 50, r: 10, t: 10, b: 40 }, legend: { orientation: "h" },
                   xaxis: { title: { text: "evaluations" } },
                   yaxis: { title: { text: "best score (mean, min-max band)" } } };
    return Plotly.react(div, traces, layout, CONFIG).then(drawn(div));
  }

  function poll(url, every, handle) {
    var busy = false;
    window.setInterval(function () {
      if (busy) return;
      busy = true;
      fetch(url, { cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data) return handle(data); })
        .catch(function () {})
        .then(function () { busy = false; });
    }, every * 1000);
  }

  function liveRun(root, api, tree) {
    var evaluated = root.querySelector("#summary .evaluated");
    var seen = { nodes: tree.count, evaluated: evaluated ? evaluated.textContent : "" };
    poll(api + "summary.json", H.refresh, function (s) {
      ["evaluated", "status", "nodes"].forEach(function (k) {
        var el = root.querySelector("#summary ." + k);
        if (el) el.textContent = s[k];
      });
      var best = root.querySelector("#summary .best-score");
      if (best && s.best_score !== null) best.textContent = s.best_score.toPrecision(6);
      if (s.nodes === seen.nodes && String(s.evaluated) === seen.evaluated) return;
      seen = { nodes: s.nodes, evaluated: String(s.evaluated) };
      return fetch(api + "tree.json", { cache: "no-store" })
        .then(function (r) { return r.json(); })
        .then(function (t) { return drawTree(root.querySelector("#tree"), t); });
    });
  }

  function liveCurves(root, api, curves) {
    var count = curves.points.length;
    poll(api + "curves.json", H.refresh, function (c) {
      if (c.points.length === count) return;
      count = c.points.length;
      return drawCurves(root, c);
    });
  }

  function init(root) {
    var tree = json(root, "tree"), curves = json(root, "curves"), sweep = json(root, "sweep");
    var api = H.live ? (root.querySelector("[data-api]") || {}).dataset : null;
    if (tree) {
      drawTree(root.querySelector("#tree"), tree);
      if (api) liveRun(root, api.api, tree);
    }
    if (curves) {
      drawCurves(root, curves);
      if (api) liveCurves(root, api.api, curves);
    }
    if (sweep) drawSweep(root, sweep);
  }

  function show() {
    var id = window.location.hash.slice(1) || H.start;
    var page = document.getElementById("page-" + id) || document.getElementById("page-missing");
    var main = document.getElementById("main");
    main.replaceChildren(page.content.cloneNode(true));
    document.body.dataset.page = page.dataset.page;
    window.scrollTo(0, 0);
    init(main);
  }

  if (H.report) {
    window.addEventListener("hashchange", show);
    show();
  } else {
    init(document);
  }
})();
