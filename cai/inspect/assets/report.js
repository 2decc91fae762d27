// The report's behaviour: draw the summary, the filterable list and one example's story from the JSON
// data embedded in the page. User text only ever goes into the page through textContent, never as HTML.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("cai-data").textContent);
  var examples = data.examples;
  var byIndex = {};
  examples.forEach(function (ex) {
    byIndex[ex.index] = ex;
    ex.haystack = [ex.id, ex.category || ""].concat(
      ex.messages.map(function (m) { return m.content; }),
      [ex.initial],
      ex.rounds.map(function (r) { return r.principle + "\n" + r.critique + "\n" + r.revision; }),
      ex.errors).join("\n").toLowerCase();
  });

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "class") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function table(headers, rows, numeric) {
    var head = el("tr", {}, headers.map(function (h, i) {
      return el("th", { text: h, class: numeric && numeric[i] ? "num" : "" });
    }));
    var body = rows.map(function (row) {
      return el("tr", {}, row.map(function (cell, i) {
        return el("td", { text: String(cell), class: numeric && numeric[i] ? "num" : "" });
      }));
    });
    return el("table", {}, [el("thead", {}, [head]), el("tbody", {}, body)]);
  }

  function titled(title, node) { return el("div", {}, [el("h3", { text: title }), node]); }

  function drawSummary() {
    var s = data.summary, box = document.getElementById("summary");
    document.getElementById("run-path").textContent = data.run.run || "";
    box.appendChild(el("h2", { text: "Summary" }));
    box.appendChild(el("div", { class: "cards" }, s.cards.map(function (card) {
      return el("div", { class: "card" }, [el("div", { class: "value", text: card[1] }),
                                            el("div", { class: "muted", text: card[0] })]);
    })));
    var charts = (data.charts || []).map(caiCharts.figure).filter(function (c) { return c; });
    if (charts.length) box.appendChild(el("div", { class: "charts" }, charts));
    var facts = Object.keys(data.run).map(function (k) { return [k, data.run[k]]; });
    var tables = [titled("Run", table(["", ""], facts))];
    if (s.principles.length) {
      tables.push(titled("Principles used", table(["principle", "category", "rounds", "changed the answer"],
        s.principles.map(function (p) { return [p.principle, p.category, p.rounds, p.changed]; }),
        [false, false, true, true])));
      tables.push(titled("Principle categories", table(["category", "rounds"], s.categories, [false, true])));
    }
    if (s.prompt_categories.length) {
      tables.push(titled("Prompt categories", table(["category", "examples"], s.prompt_categories, [false, true])));
    }
    if (s.labels.length) tables.push(titled("Labels", table(["", ""], s.labels)));
    if (s.quality.length) {
      var kinds = ["answer", "critique", "revision", "sample"].filter(function (k) {
        return s.quality.some(function (q) { return k in q[1]; });
      });
      tables.push(titled("Quality gates (" + s.examples_flagged + " final answers flagged)",
        table(["reason"].concat(kinds.map(function (k) { return k + "s"; }), ["final answers"]),
          s.quality.map(function (q) {
            return [q[0]].concat(kinds.map(function (k) { return q[1][k] || 0; }), [q[2]]);
          }), [false].concat(kinds.map(function () { return true; }), [true]))));
    }
    if (s.skipped.length) {
      tables.push(titled("Skipped inputs (" + s.skipped.length + ")", table(["row", "id", "reason"],
        s.skipped.map(function (r) { return [r.row, r.id, r.reason]; }))));
    }
    if (s.errors.length) {
      tables.push(titled("Errors (" + s.errors.length + ")", table(["example", "error"], s.errors)));
    }
    box.appendChild(el("div", { class: "tables" }, tables));
    if (s.notes.length) {
      box.appendChild(el("ul", { class: "notes" }, s.notes.map(function (n) { return el("li", { text: n }); })));
    }
  }

  function fillSelect(id, values) {
    var select = document.getElementById(id);
    values.forEach(function (v) { select.appendChild(el("option", { value: v, text: v })); });
  }

  function drawList() {
    var body = document.querySelector("#example-list tbody");
    examples.forEach(function (ex) {
      var row = el("tr", { "data-index": ex.index }, [
        el("td", { class: "num", text: ex.index }), el("td", { class: "nowrap", text: ex.id }),
        el("td", { class: "nowrap", text: ex.category || "-" }),
        el("td", { class: "nowrap", text: ex.rounds.map(function (r) { return r.principle; }).join("\n") }),
        el("td", { text: ex.rounds.length ? (ex.changed ? "yes" : "no") : "-" }),
        el("td", { class: "nowrap", text: flagReasons(ex).join(", ") }),
        el("td", { class: "num", text: ex.errors.length || "" }),
        el("td", { class: "prompt", text: ex.prompt, title: ex.prompt })]);
      row.addEventListener("click", function () { showStory(ex.index); });
      ex.row = row;
      body.appendChild(row);
    });
    fillSelect("filter-principle", data.summary.principles.map(function (p) { return p.principle; }).sort());
    fillSelect("filter-category", data.summary.all_categories);
    fillSelect("filter-flagged", ["any"].concat(data.summary.quality.map(function (q) { return q[0]; })));
  }

  function flagReasons(ex) {
    return union(ex.turn_flags.map(function (t) { return t[1]; }));
  }

  function flagNode(reasons, consequence) {
    return reasons && reasons.length
      ? el("div", { class: "flag", text: "flagged: " + reasons.join(", ") + (consequence || "") }) : null;
  }

  function value(id) { return document.getElementById(id).value; }

  function applyFilters() {
    var text = value("filter").trim().toLowerCase(), principle = value("filter-principle");
    var category = value("filter-category"), changed = value("filter-changed");
    var errorsOnly = document.getElementById("filter-errors").checked, shown = 0, flagged = value("filter-flagged");
    examples.forEach(function (ex) {
      var ok = (!text || ex.haystack.indexOf(text) !== -1)
        && (!principle || ex.rounds.some(function (r) { return r.principle === principle; }))
        && (!category || ex.category === category || ex.rounds.some(function (r) { return r.category === category; }))
        && (!changed || (ex.rounds.length > 0 && (changed === "yes") === ex.changed))
        && (!errorsOnly || ex.errors.length > 0)
        && (!flagged || (flagged === "any" ? flagReasons(ex).length > 0 : flagReasons(ex).indexOf(flagged) >= 0));
      ex.row.hidden = !ok;
      if (ok) shown += 1;
    });
    document.getElementById("shown-count").textContent = shown + " of " + examples.length + " shown";
  }

  function block(label, text, extraClass) {
    return el("div", { class: "block " + (extraClass || "") }, [el("div", { class: "role", text: label }),
                                                                el("div", { class: "text", text: text })]);
  }

  function diffNode(segments) {
    return el("div", { class: "text diff" }, segments.map(function (seg) {
      if (seg[0] === "insert") return el("ins", { text: seg[1] });
      if (seg[0] === "delete") return el("del", { text: seg[1] });
      return document.createTextNode(seg[1]);
    }));
  }

  function roundNode(r, number) {
    var change = r.changed ? "revision (+" + r.inserted + " / -" + r.deleted + " words)" : "revision (unchanged)";
    return el("div", { class: "block round" }, [
      el("div", { class: "role" }, [document.createTextNode("round " + number + " · "),
                                    el("span", { class: "badge", text: r.principle }),
                                    document.createTextNode(" " + r.category)]),
      el("details", {}, [el("summary", { text: "critique request" }), el("div", { class: "text", text: r.critique_prompt })]),
      el("div", { class: "role", text: "critique" }), el("div", { class: "text", text: r.critique || "(no critique)" }),
      flagNode(r.critique_flags),
      el("div", { class: "role", text: change }), diffNode(r.diff),
      flagNode(r.revision_flags, " — not used; the answer before it stands")]);
  }

  function union(lists) {
    var out = [];
    lists.forEach(function (keys) { keys.forEach(function (k) { if (out.indexOf(k) < 0) out.push(k); }); });
    return out;
  }

  function number(x) { return typeof x === "number" ? x.toFixed(3) : "-"; }

  function labelsNode(ex) {
    var choices = union(ex.labels.map(function (l) { return Object.keys(l.probs); })).sort();
    var names = union(ex.labels.map(function (l) { return Object.keys(l.scores); }));
    var rows = ex.labels.map(function (l) {
      return [l.principle || "?", l.pair || "-", l.order || "-"]
        .concat(choices.map(function (c) { return number(l.probs[c]); }))
        .concat(names.map(function (n) { return number(l.scores[n]); }))
        .concat([l.valid === null ? "-" : (l.valid ? "yes" : "no"), l.reason]);
    });
    var headers = ["principle", "pair", "order"].concat(choices.map(function (c) { return "P(" + c + ")"; }),
      names.map(function (n) { return "score " + n; }), ["valid", "reason"]);
    var parts = [];
    if (ex.labels.length) parts.push(titled("Labels", table(headers, rows)));
    if (ex.preference) parts.push(titled("Preference", table(["", ""], ex.preference)));
    return el("div", { class: "labels" }, parts);
  }

  function showStory(index) {
    var ex = byIndex[index], story = document.getElementById("story");
    if (!ex) return;
    examples.forEach(function (e) { e.row.classList.toggle("selected", e.index === index); });
    story.textContent = "";
    var position = examples.indexOf(ex);
    var prev = el("button", { type: "button", text: "◀ previous" }), next = el("button", { type: "button", text: "next ▶" });
    prev.disabled = position === 0;
    next.disabled = position === examples.length - 1;
    prev.addEventListener("click", function () { showStory(examples[position - 1].index); });
    next.addEventListener("click", function () { showStory(examples[position + 1].index); });
    var hide = el("input", { type: "checkbox" });
    hide.checked = document.body.classList.contains("hide-deleted");
    hide.addEventListener("change", function () { document.body.classList.toggle("hide-deleted", hide.checked); });
    story.appendChild(el("div", { class: "story-nav" }, [prev, next, el("label", {}, [hide, document.createTextNode(" hide deleted words")])]));
    story.appendChild(el("h2", { text: "Example " + ex.index + ": " + ex.id }));
    if (ex.meta) story.appendChild(el("p", { class: "muted", text: ex.meta }));
    ex.messages.forEach(function (m) { story.appendChild(block(m.role, m.content)); });
    story.appendChild(block("initial answer", ex.initial || "(no answer)"));
    var initialFlags = flagNode(ex.initial_flags);
    if (initialFlags) story.appendChild(initialFlags);
    ex.rounds.forEach(function (r, i) { story.appendChild(roundNode(r, i + 1)); });
    var finalFlags = flagNode(ex.flags, " (final answer): left out of the exported splits unless --keep-flagged");
    if (finalFlags) story.appendChild(finalFlags);
    if (ex.labels.length || ex.preference) story.appendChild(labelsNode(ex));
    if (ex.errors.length) story.appendChild(block("errors", ex.errors.join("\n"), "errors"));
    if (history.replaceState) history.replaceState(null, "", "#example-" + ex.index);
  }

  drawSummary();
  drawList();
  ["filter", "filter-principle", "filter-category", "filter-changed", "filter-errors", "filter-flagged"].forEach(function (id) {
    document.getElementById(id).addEventListener(id === "filter" ? "input" : "change", applyFilters);
  });
  applyFilters();
  var match = /^#example-(-?\d+)$/.exec(location.hash);
  if (match && byIndex[Number(match[1])]) showStory(Number(match[1]));
})();
