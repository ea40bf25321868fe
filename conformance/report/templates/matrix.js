// matrix.html behaviour: filters, sorting, and the evidence drawer. Vanilla, no network.
// Evidence is untrusted provider output: it is only ever put into the page with textContent.
(function () {
  "use strict";
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };
  var data = JSON.parse($("#page-data").textContent || "{}");
  var evidence = data.cells || [];
  var checks = data.checks || {};
  var table = $("#matrix");
  var tbodies = $$("tbody.area", table);
  var initialOrder = $$("th.prov", table).map(function (th) { return th.dataset.p; });

  // ---- filters -------------------------------------------------------------------------------
  function state() {
    return {
      search: $("#f-search").value.trim().toLowerCase(),
      area: $("#f-area").value,
      levels: $$("input[name=level]:checked").map(function (i) { return i.value; }),
      status: $("#f-status").value,
      providers: $$("input[name=provider]:checked").map(function (i) { return i.value; }),
      diff: $("#f-diff").checked
    };
  }

  function matchesStatus(cell, status) {
    if (!status) return true;
    var tags = (cell.dataset.f || "").split(" ");
    if (status === "notpass") {
      return ["fail", "flaky", "error", "unsupported"].some(function (t) { return tags.indexOf(t) >= 0; });
    }
    return tags.indexOf(status) >= 0;
  }

  function apply() {
    var s = state();
    var shown = {};
    s.providers.forEach(function (p) { shown[p] = true; });
    $$("[data-p]", table).forEach(function (el) { el.classList.toggle("hide-col", !shown[el.dataset.p]); });
    $$("#scores tbody tr").forEach(function (tr) { tr.classList.toggle("hidden", !shown[tr.dataset.p]); });
    $("#prov-count").textContent = s.providers.length + "/" + $$("input[name=provider]").length;
    var visible = 0, total = 0;
    tbodies.forEach(function (tb) {
      var any = false;
      var areaOk = !s.area || tb.dataset.area === s.area;
      $$("tr.check", tb).forEach(function (tr) {
        total++;
        var cells = $$("td.cell", tr).filter(function (td) { return shown[td.dataset.p]; });
        var ok = areaOk && s.levels.indexOf(tr.dataset.level) >= 0;
        if (ok && s.search) ok = tr.dataset.search.indexOf(s.search) >= 0;
        if (ok && s.status) ok = cells.some(function (td) { return matchesStatus(td, s.status); });
        if (ok && s.diff) {
          var keys = {};
          cells.forEach(function (td) {
            var tags = td.dataset.f.split(" ");
            if (tags[0] !== "absent") keys[tags[0] + (tags.indexOf("expected") >= 0 ? "~x" : "")] = true;
          });
          ok = Object.keys(keys).length > 1;
        }
        tr.classList.toggle("hidden", !ok);
        if (ok) { any = true; visible++; }
      });
      tb.classList.toggle("hidden", !any);
    });
    $("#shown-count").textContent = visible + " of " + total + " checks shown";
    $("#empty-note").hidden = visible > 0;
  }

  // ---- sorting -------------------------------------------------------------------------------
  var levelRank = { must: 0, should: 1, may: 2 };
  function badCount(tr) {
    return $$("td.cell", tr).filter(function (td) {
      return !td.classList.contains("hide-col") && /\b(fail|flaky|error|unsupported)\b/.test(td.dataset.f) && !/\bexpected\b/.test(td.dataset.f);
    }).length;
  }
  function regCount(tr) { return $$("td.chg-regression", tr).length; }

  function sortRows() {
    var how = $("#s-rows").value;
    tbodies.forEach(function (tb) {
      var rows = $$("tr.check", tb);
      var key = function (tr) {
        var order = +tr.dataset.order;
        if (how === "level") return [levelRank[tr.dataset.level], order];
        if (how === "bad") return [-badCount(tr), levelRank[tr.dataset.level], order];
        if (how === "reg") return [-regCount(tr), -badCount(tr), order];
        return [order];
      };
      rows.map(function (tr) { return { tr: tr, k: key(tr) }; })
        .sort(function (a, b) {
          for (var i = 0; i < a.k.length; i++) { if (a.k[i] !== b.k[i]) return a.k[i] - b.k[i]; }
          return 0;
        })
        .forEach(function (x) { tb.appendChild(x.tr); });
    });
  }

  function sortColumns() {
    var how = $("#s-cols").value;
    var heads = $$("th.prov", table);
    var order = heads.slice().sort(function (a, b) {
      if (how === "name") return a.dataset.name.localeCompare(b.dataset.name);
      if (how === "must" || how === "should") return (+b.dataset[how]) - (+a.dataset[how]) || initialOrder.indexOf(a.dataset.p) - initialOrder.indexOf(b.dataset.p);
      return initialOrder.indexOf(a.dataset.p) - initialOrder.indexOf(b.dataset.p);
    }).map(function (th) { return th.dataset.p; });
    $$("tr", table).forEach(function (tr) {
      var groups = {};
      $$(":scope > [data-p]", tr).forEach(function (el) { (groups[el.dataset.p] = groups[el.dataset.p] || []).push(el); });
      order.forEach(function (p) { (groups[p] || []).forEach(function (el) { tr.appendChild(el); }); });
    });
  }

  // ---- evidence drawer -----------------------------------------------------------------------
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function section(body, title) { body.appendChild(el("h3", null, title)); }
  function kv(rows) {
    var t = el("table", "kv");
    rows.forEach(function (r) {
      if (r[1] === undefined || r[1] === null || r[1] === "") return;
      var tr = el("tr");
      tr.appendChild(el("th", null, r[0]));
      tr.appendChild(el("td", null, r[1]));
      t.appendChild(tr);
    });
    return t;
  }
  function pre(text, withCopy) {
    var wrap = el("div");
    var p = el("pre", null, text);
    if (withCopy) {
      var b = el("button", "copy", "copy");
      b.type = "button";
      b.addEventListener("click", function () {
        var range = document.createRange();
        range.selectNodeContents(p);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(p.textContent).catch(function () {});
        b.textContent = "selected";
      });
      wrap.appendChild(b);
    }
    wrap.appendChild(p);
    return wrap;
  }
  function pretty(text, truncated) {
    if (truncated || !text || "{[".indexOf(text.charAt(0)) < 0) return text;
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (err) { return text; }
  }
  function headersText(h) { return (h || []).map(function (kv) { return kv[0] + ": " + kv[1]; }).join("\n"); }
  function ms(v) { return typeof v === "number" ? v.toFixed(1) + " ms" : null; }

  function render(ev) {
    var body = $("#ev-body");
    body.textContent = "";
    $("#ev-title").textContent = ev.check + " · " + ev.provider + (ev.model ? " / " + ev.model : "");
    var badges = el("div", "badges");
    badges.appendChild(el("span", "badge cell st-" + ev.status, ev.status));
    badges.appendChild(el("span", "lvl lvl-" + ev.level, ev.level));
    if (ev.kind) badges.appendChild(el("span", "badge", ev.kind));
    if (ev.expected && ev.expected.matches) badges.appendChild(el("span", "badge", "known gap (expected)"));
    if (ev.claimed) badges.appendChild(el("span", "badge", "◆ claimed by the provider"));
    if (ev.change) badges.appendChild(el("span", "badge", ev.change.kind + ": was " + (ev.change.old || "absent")));
    body.appendChild(badges);
    var info = checks[ev.check] || {};
    body.appendChild(el("p", null, info.title));
    if (ev.message) body.appendChild(el("div", "msg" + (ev.status === "pass" ? "" : " bad"), ev.message));

    if (ev.expected) {
      section(body, "Expectation (providers.yaml expect:)");
      var t = kv([["status", ev.expected.status + (ev.expected.matches ? " (matches)" : " (does not match: the result is " + ev.status + ")")], ["reason", ev.expected.reason]]);
      if (ev.expected.link) {
        var tr = el("tr"); tr.appendChild(el("th", null, "link"));
        var td = el("td");
        if (/^https?:\/\//i.test(ev.expected.link)) {
          var a = el("a", null, ev.expected.link); a.href = ev.expected.link; a.rel = "noopener noreferrer"; a.target = "_blank";
          td.appendChild(a);
        } else { td.textContent = ev.expected.link; }
        tr.appendChild(td); t.appendChild(tr);
      }
      body.appendChild(t);
    }
    if (ev.repeats) {
      var rp = ev.repeats;
      section(body, "Repeats");
      body.appendChild(kv([
        ["runs", rp.runs], ["passed", rp.passes],
        ["pass rate", typeof rp.pass_rate === "number" ? (rp.pass_rate * 100).toFixed(0) + "%" : null],
        ["Wilson 95%", typeof rp.wilson_low === "number" ? (rp.wilson_low * 100).toFixed(0) + "% to " + (rp.wilson_high * 100).toFixed(0) + "%" : null],
        ["each run", (rp.statuses || []).join(" ")]
      ]));
    }
    if (ev.flips) {
      section(body, "Stability");
      body.appendChild(el("p", null, "Changed status " + ev.flips + " time(s) over the last " + ev.window + " runs."));
    }

    section(body, "Measurements");
    var m = ev.metrics || {};
    var tok = ev.tokens || {};
    body.appendChild(kv([
      ["latency", ms(m.latency_ms)], ["time to first token", ms(m.ttft_ms)],
      ["stream chunks", m.chunks], ["check duration", ms(ev.duration_ms)],
      ["tokens", tok.total ? tok.prompt + " prompt + " + tok.completion + " completion = " + tok.total + (tok.estimated ? " (estimated)" : "") : "0"],
      ["requests", ev.requests + (ev.retries ? " (" + ev.retries + " retries)" : "")]
    ]));

    if (ev.schema_errors && ev.schema_errors.length) {
      section(body, "Schema errors");
      var st = el("table", "kv");
      var hr = el("tr");
      ["pointer", "rule", "message", "value"].forEach(function (h) { hr.appendChild(el("th", null, h)); });
      st.appendChild(hr);
      ev.schema_errors.forEach(function (e) {
        var r = el("tr");
        r.appendChild(el("td", null, (e.pointer || "/") + (e.schema ? "  (" + e.schema + ")" : "")));
        r.appendChild(el("td", null, e.rule));
        r.appendChild(el("td", null, e.message));
        r.appendChild(el("td", null, e.value));
        st.appendChild(r);
      });
      body.appendChild(st);
    }
    if (ev.findings && ev.findings.length) {
      section(body, "Findings");
      var ul = el("ul");
      ev.findings.forEach(function (f) {
        var parts = Object.keys(f).map(function (k) { return k + ": " + f[k]; });
        ul.appendChild(el("li", null, parts.join(" · ")));
      });
      body.appendChild(ul);
    }
    if (ev.notes && ev.notes.length) {
      section(body, "Notes");
      var nl = el("ul");
      ev.notes.forEach(function (n) { nl.appendChild(el("li", null, n)); });
      body.appendChild(nl);
    }
    (ev.exchanges || []).forEach(function (x, i) {
      section(body, "Exchange " + (i + 1));
      body.lastChild.dataset.x = String(i);  // a client step's "exchange N" scrolls here
      var box = el("div", "exch");
      var req = x.request || {};
      box.appendChild(el("div", "exch-title", (req.method || "") + " " + (req.url || "")));
      if (req.headers && req.headers.length) box.appendChild(pre(headersText(req.headers)));
      if (req.body) box.appendChild(pre(pretty(req.body, false)));
      if (x.response) {
        var r = x.response;
        var sizeNote = typeof r.body_bytes === "number" ? " · " + r.body_bytes + " bytes" + (r.truncated ? ", excerpt shown" : "") : "";
        box.appendChild(el("div", "exch-title", "→ HTTP " + r.status + sizeNote));
        if (r.headers && r.headers.length) box.appendChild(pre(headersText(r.headers)));
        box.appendChild(pre(pretty(r.body, r.truncated) || "(empty body)"));
      }
      if (x.error) box.appendChild(el("div", "msg bad", "transport error: " + x.error));
      var tm = x.timing || {};
      var times = [ms(tm.total_ms) && "total " + ms(tm.total_ms), ms(tm.ttfb_ms) && "first byte " + ms(tm.ttfb_ms), ms(tm.ttft_ms) && "first token " + ms(tm.ttft_ms)].filter(Boolean);
      if (times.length) box.appendChild(el("div", "dim", times.join(" · ")));
      if (x.curl) { box.appendChild(el("div", "dim", "Reproduce (set API_KEY first):")); box.appendChild(pre(x.curl, true)); }
      body.appendChild(box);
    });
    if (ev.exchanges_omitted) body.appendChild(el("p", "dim", ev.exchanges_omitted + " more exchange(s) not shown."));
    if (ev.others && ev.others.length) {
      section(body, "Other results in this cell");
      var ol = el("ul");
      ev.others.forEach(function (o) { ol.appendChild(el("li", null, (o.model || "-") + ": " + o.status + " " + o.message)); });
      body.appendChild(ol);
    }
    section(body, "About this check");
    body.appendChild(kv([["spec", info.spec], ["why it matters", info.rationale]]));
  }

  var selected = null;
  // Open a cell's evidence; `x` (optional) is the exchange to show first, by its position.
  function open(td, x) {
    var idx = td && td.dataset.e;
    if (idx === undefined) return;
    if (selected) selected.classList.remove("selected");
    selected = td;
    td.classList.add("selected");
    render(evidence[+idx]);
    $("#drawer").hidden = false;
    $("#ev-close").focus();
    var shown = /^\d+$/.test(x || "") ? $("#ev-body h3[data-x='" + x + "']") : null;
    if (shown) { shown.classList.add("target"); shown.scrollIntoView({ block: "start" }); }
    try { history.replaceState(null, "", "#e" + idx + (shown ? "x" + x : "")); } catch (err) { /* file:// may refuse; the link is a nicety */ }
  }
  function close() {
    $("#drawer").hidden = true;
    if (selected) { selected.classList.remove("selected"); selected.focus(); selected = null; }
  }

  // ---- wiring --------------------------------------------------------------------------------
  table.addEventListener("click", function (e) {
    var toggle = e.target.closest("button.toggle");
    if (toggle) {
      var tb = toggle.closest("tbody");
      tb.classList.toggle("collapsed");
      toggle.setAttribute("aria-expanded", tb.classList.contains("collapsed") ? "false" : "true");
      return;
    }
    var td = e.target.closest("td.cell[data-e]");
    if (td) open(td);
  });
  table.addEventListener("keydown", function (e) {
    if ((e.key === "Enter" || e.key === " ") && e.target.matches("td.cell[data-e]")) { e.preventDefault(); open(e.target); }
  });
  $("#ev-close").addEventListener("click", close);
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && !$("#drawer").hidden) close(); });
  $$("[data-goto]").forEach(function (b) {
    b.addEventListener("click", function () {
      var td = $("td[data-e='" + b.dataset.goto + "']", table);
      if (!td) return;
      td.scrollIntoView({ block: "center", inline: "center" });
      open(td, b.dataset.x);
    });
  });

  // ---- "Will my stack work?": the libraries ticked give each provider one verdict ---------------
  function stackVerdict(tr, picked) {
    var cells = $$("td[data-lib]", tr).filter(function (td) { return picked.indexOf(td.dataset.lib) >= 0; });
    var names = function (states) {
      return cells.filter(function (td) { return states.indexOf(td.dataset.state) >= 0; })
        .map(function (td) { return td.dataset.label; });
    };
    var broken = names(["breaks", "flaky"]);
    if (broken.length) return ["st-fail", "✗ breaks: " + broken.join(", ")];
    var unverified = names(["error", "not_installed", "skipped", "absent"]);
    if (unverified.length) return ["st-skipped", "? not verified: " + unverified.join(", ")];
    return ["st-pass", "✓ works"];
  }
  function applyStack() {
    var picked = $$("input[name=stack]:checked").map(function (i) { return i.value; });
    $$("#clients-table tbody tr").forEach(function (tr) {
      var out = $("td.stack-verdict", tr);
      var v = picked.length ? stackVerdict(tr, picked) : ["", "—"];
      out.className = "stack-verdict" + (v[0] ? " cell " + v[0] : "");
      out.textContent = v[1];
    });
  }
  $$("input[name=stack]").forEach(function (i) { i.addEventListener("change", applyStack); });
  $("#toolbar").addEventListener("submit", function (e) { e.preventDefault(); });
  ["#f-search", "#f-area", "#f-status", "#f-diff"].forEach(function (sel) {
    $(sel).addEventListener(sel === "#f-search" ? "input" : "change", apply);
  });
  $$("input[name=level], input[name=provider]").forEach(function (i) { i.addEventListener("change", apply); });
  $$(".pick-actions button").forEach(function (b) {
    b.addEventListener("click", function () {
      $$("input[name=provider]").forEach(function (i) { i.checked = b.dataset.all === "1"; });
      apply();
    });
  });
  $("#s-rows").addEventListener("change", function () { sortRows(); apply(); });
  $("#s-cols").addEventListener("change", sortColumns);
  $("#f-reset").addEventListener("click", function () {
    $("#toolbar").reset();
    sortRows(); sortColumns(); apply();
  });

  // Sticky second header row sits under the first, whatever its height.
  var provRow = $("tr.prov-row", table);
  if (provRow) table.style.setProperty("--prov-h", provRow.getBoundingClientRect().height + "px");
  if ($("#s-rows").value !== "order") sortRows();  // "regressions first" is preselected when there are some
  apply();
  var linked = /^#e(\d+)(?:x(\d+))?$/.exec(location.hash);
  if (linked) {
    var target = $("td[data-e='" + linked[1] + "']", table);
    if (target) { target.scrollIntoView({ block: "center" }); open(target, linked[2]); }
  }
})();
