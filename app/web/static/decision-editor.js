// The decision table editor: edit the rules of one DMN table, try it, see its problems, save and publish.
// It edits the JSON table of app/decisions/table.py; the server does every check and evaluation.
(function () {
  "use strict";

  function $(id) { return document.getElementById(id); }
  function readJson(id) { return JSON.parse($(id).textContent); }
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "className") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }
  function fmt(template, n) { return template.replace("%(n)s", n); }
  function bilingual(text, english) {
    // "中文 English" titles: show the part of the page's language
    var match = /^([^A-Za-z]*[\u3400-\u9fff][^A-Za-z]*?)\s+([A-Za-z].*)$/.exec(text || "");
    if (!match) return text || "";
    return english ? match[2] : match[1];
  }

  var state, urls, T, table, editable, dirty = false, lintTimer = null, lintSeq = 0, trySeq = 0, lastResult = null;
  var tried = false;  // once the person has tried the table, every edit tries it again

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf(), "Accept": "application/json"},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return {status: response.status, data: data};
      });
    });
  }

  function isDefault(rule) {
    return rule.inputs.every(function (cell) { return cell === "" || cell === "-"; });
  }

  // --- the table ------------------------------------------------------------------------------------

  function header() {
    var thead = el("thead");
    var groups = el("tr", {className: "dt-groups"}, [
      el("th", {rowspan: "2", className: "dt-num", text: "#"}),
      table.inputs.length ? el("th", {colspan: String(table.inputs.length), className: "dt-in", text: T.inputs}) : null,
      el("th", {colspan: String(table.outputs.length), className: "dt-out", text: T.outputs}),
      el("th", {rowspan: "2", className: "dt-desc", text: T.description}),
      editable ? el("th", {rowspan: "2", className: "dt-ops"}) : null
    ]);
    var names = el("tr");
    table.inputs.forEach(function (column, index) {
      names.appendChild(el("th", {className: "dt-in", "data-kind": "input", "data-column": String(index)}, [
        el("span", {className: "dt-label", text: bilingual(column.label, state.english) || column.expression}),
        el("code", {className: "dt-expr", title: T.input_hint, text: column.expression})
      ]));
    });
    table.outputs.forEach(function (column, index) {
      names.appendChild(el("th", {className: "dt-out", "data-kind": "output", "data-column": String(index)}, [
        el("span", {className: "dt-label", text: bilingual(column.label, state.english) || column.name}),
        el("code", {className: "dt-expr", title: T.output_hint, text: column.name})
      ]));
    });
    thead.appendChild(groups);
    thead.appendChild(names);
    return thead;
  }

  // the published value of a cell (rules are matched by id; new rules and columns have none)
  function publishedCell(rule, kind, index) {
    var published = state.published;
    var column = (kind === "input" ? table.inputs : table.outputs)[index];
    var columns = kind === "input" ? published.inputs : published.outputs;
    var at = -1;
    columns.forEach(function (c, i) { if (c.id && c.id === column.id) at = i; });
    var old = published.rules.filter(function (r) { return r.id && r.id === rule.id; })[0];
    if (!old || at < 0) return null;
    return old[kind + "s"][at];
  }

  function cellInput(rule, kind, index, rowIndex) {
    var value = rule[kind + "s"][index];
    var column = kind === "input" ? table.inputs[index] : table.outputs[index];
    var label = (bilingual(column.label, state.english) || column.expression || column.name) +
      " · " + T.rule + " " + (rowIndex + 1);
    if (!editable) {
      return el("span", {className: "dt-value" + (value === "" ? " dt-any" : ""), text: value === "" ? T.any : value});
    }
    var input = el("input", {type: "text", value: value, "aria-label": label, spellcheck: "false",
                             autocomplete: "off", placeholder: kind === "input" ? T.any : ""});
    input.classList.toggle("changed", value !== publishedCell(rule, kind, index));
    input.addEventListener("input", function () {
      rule[kind + "s"][index] = input.value;
      input.classList.toggle("changed", input.value !== publishedCell(rule, kind, index));
      changed(false);
    });
    return input;
  }

  function render() {
    var node = $("dt-table");
    node.textContent = "";
    node.appendChild(header());
    var body = el("tbody");
    table.rules.forEach(function (rule, rowIndex) {
      var row = el("tr", {"data-rule": String(rowIndex)});
      if (isDefault(rule)) row.classList.add("dt-default");
      row.appendChild(el("td", {className: "dt-num"}, [
        el("span", {text: String(rowIndex + 1)}),
        isDefault(rule) ? el("span", {className: "dt-tag", text: T.default_rule}) : null
      ]));
      table.inputs.forEach(function (_c, index) {
        row.appendChild(el("td", {className: "dt-cell dt-in", "data-kind": "input", "data-column": String(index)},
                           [cellInput(rule, "input", index, rowIndex)]));
      });
      table.outputs.forEach(function (_c, index) {
        row.appendChild(el("td", {className: "dt-cell dt-out", "data-kind": "output", "data-column": String(index)},
                           [cellInput(rule, "output", index, rowIndex)]));
      });
      var description;
      if (editable) {
        description = el("textarea", {rows: "2", "aria-label": T.description + " · " + T.rule + " " + (rowIndex + 1)});
        description.value = rule.description || "";
        description.addEventListener("input", function () { rule.description = description.value; changed(true); });
      } else {
        description = el("span", {text: rule.description || ""});
      }
      row.appendChild(el("td", {className: "dt-desc"}, [description]));
      if (editable) {
        var ops = el("td", {className: "dt-ops"});
        [["↑", T.up, -1], ["↓", T.down, 1]].forEach(function (spec) {
          var button = el("button", {type: "button", className: "dt-op", title: spec[1], "aria-label": spec[1], text: spec[0]});
          var target = rowIndex + spec[2];
          if (target < 0 || target >= table.rules.length) button.disabled = true;
          button.addEventListener("click", function () {
            var moved = table.rules.splice(rowIndex, 1)[0];
            table.rules.splice(target, 0, moved);
            changed(true, true);
          });
          ops.appendChild(button);
        });
        var remove = el("button", {type: "button", className: "dt-op dt-remove", title: T.remove, "aria-label": T.remove, text: "✕"});
        remove.disabled = table.rules.length <= 1;
        remove.addEventListener("click", function () {
          if (!window.confirm(T.confirm_remove)) return;
          table.rules.splice(rowIndex, 1);
          changed(true, true);
        });
        ops.appendChild(remove);
        row.appendChild(ops);
      }
      body.appendChild(row);
    });
    node.appendChild(body);
    showIssues(state.issues);
    if (lastResult) markMatches(lastResult);
  }

  function changed(structure, rerender) {
    dirty = true;
    lastResult = null;
    clearMatches();
    setStatus(T.unsaved, "pending");
    if (rerender) render();
    else if (structure) { /* descriptions do not change the table's lint */ }
    scheduleLint();
  }

  // --- lint -----------------------------------------------------------------------------------------

  function scheduleLint() {
    if (lintTimer) window.clearTimeout(lintTimer);
    lintTimer = window.setTimeout(function () {
      runLint();
      if (tried) runTry();
    }, 500);
  }

  function runLint() {
    var seq = ++lintSeq;
    return post(urls.lint, {table: table}).then(function (reply) {
      if (seq !== lintSeq) return;
      if (reply.status === 200) {
        state.issues = reply.data.issues;
      } else {
        state.issues = Object.keys(reply.data.fields || {}).map(function (field) {
          return {level: "error", code: "validation", field: field, message: reply.data.fields[field],
                  message_zh: reply.data.fields[field], rule: null, kind: null, column: null};
        });
      }
      showIssues(state.issues);
    }).catch(function () { /* offline: keep the last lint */ });
  }

  function message(issue) { return state.english ? issue.message : (issue.message_zh || issue.message); }

  function showIssues(issues) {
    document.querySelectorAll("#dt-table .dt-issue").forEach(function (node) { node.remove(); });
    document.querySelectorAll("#dt-table .lint-error, #dt-table .lint-warning, #dt-table .lint-info")
      .forEach(function (node) { node.classList.remove("lint-error", "lint-warning", "lint-info"); });
    var summary = $("dt-lint-summary");
    summary.textContent = "";
    var counts = {error: 0, warning: 0, info: 0};
    var general = [];
    (issues || []).forEach(function (issue) {
      counts[issue.level] += 1;
      var target = null;
      if (issue.rule !== null && issue.kind && issue.column !== null) {
        target = document.querySelector('#dt-table tr[data-rule="' + issue.rule + '"] td[data-kind="' + issue.kind +
                                        '"][data-column="' + issue.column + '"]');
      } else if (issue.rule !== null) {
        target = document.querySelector('#dt-table tr[data-rule="' + issue.rule + '"] td.dt-desc');
        var row = document.querySelector('#dt-table tr[data-rule="' + issue.rule + '"]');
        if (row) row.classList.add("lint-" + issue.level);
      } else if (issue.kind && issue.column !== null) {
        target = document.querySelector('#dt-table thead th[data-kind="' + issue.kind + '"][data-column="' +
                                        issue.column + '"]');
      }
      if (target) {
        target.classList.add("lint-" + issue.level);
        target.appendChild(el("div", {className: "dt-issue " + issue.level, role: issue.level === "error" ? "alert" : "note",
                                      text: message(issue)}));
      } else {
        general.push(issue);
      }
    });
    var parts = [];
    if (counts.error) parts.push(T.errors + " " + counts.error);
    if (counts.warning) parts.push(T.warnings + " " + counts.warning);
    if (counts.info) parts.push(T.infos + " " + counts.info);
    summary.appendChild(el("p", {className: counts.error ? "dt-count bad" : "dt-count", text: parts.length ? parts.join(" · ") : T.no_problems}));
    general.forEach(function (issue) {
      summary.appendChild(el("p", {className: "dt-issue " + issue.level, role: issue.level === "error" ? "alert" : "note",
                                   text: message(issue)}));
    });
    var publish = $("dt-publish");
    if (publish) publish.classList.toggle("blocked", counts.error > 0);
  }

  // --- try it ---------------------------------------------------------------------------------------

  function buildTry() {
    var form = $("dt-try");
    form.textContent = "";
    state.fields.forEach(function (field) {
      var control;
      if (field.options.length) {
        control = el("select", {name: field.name});
        field.options.forEach(function (option) {
          var node = el("option", {value: JSON.stringify(option.value),
                                   text: option.title === String(option.value) ? option.title : option.title + " (" + option.value + ")"});
          control.appendChild(node);
        });
      } else if (field.type === "boolean") {
        control = el("select", {name: field.name}, [el("option", {value: "true", text: T.true}),
                                                     el("option", {value: "false", text: T.false})]);
      } else {
        control = el("input", {name: field.name, type: field.type === "number" ? "number" : "text",
                               step: "any", autocomplete: "off"});
      }
      control.dataset.type = field.type || "";
      control.dataset.json = field.options.length || field.type === "boolean" || !field.simple ? "1" : "";
      form.appendChild(el("label", {}, [document.createTextNode(field.label), el("code", {className: "dt-var", text: field.name}), control]));
    });
    var button = el("button", {type: "submit", className: "primary", id: "dt-try-button", text: T.try});
    form.appendChild(el("div", {className: "dt-try-go"}, [button]));
    form.addEventListener("submit", function (event) { event.preventDefault(); runTry(); });
  }

  function tryInputs() {
    var inputs = {};
    Array.prototype.forEach.call($("dt-try").elements, function (control) {
      if (!control.name) return;
      var raw = control.value;
      if (control.dataset.json) {
        if (raw === "") return;
        try { inputs[control.name] = JSON.parse(raw); } catch (e) { inputs[control.name] = raw; }
      } else if (control.dataset.type === "number") {
        if (raw !== "") inputs[control.name] = Number(raw);
      } else {
        inputs[control.name] = raw;
      }
    });
    return inputs;
  }

  function clearMatches() {
    document.querySelectorAll("#dt-table tr.matched, #dt-table tr.also-matching, #dt-table td.failed").forEach(function (node) {
      node.classList.remove("matched", "also-matching", "failed");
    });
  }

  function markMatches(result) {
    clearMatches();
    (result.matching || []).forEach(function (rule) {
      var row = document.querySelector('#dt-table tr[data-rule="' + rule.index + '"]');
      if (row) row.classList.add("also-matching");
    });
    (result.matched || []).forEach(function (rule) {
      var row = document.querySelector('#dt-table tr[data-rule="' + rule.index + '"]');
      if (row) { row.classList.remove("also-matching"); row.classList.add("matched"); }
    });
  }

  function outputLabel(name) {
    var column = table.outputs.filter(function (c) { return c.name === name; })[0];
    return column ? (bilingual(column.label, state.english) || name) : name;
  }

  function runTry() {
    var box = $("dt-try-result");
    var seq = ++trySeq;
    tried = true;
    return post(urls.try, {inputs: tryInputs(), table: table}).then(function (reply) {
      if (seq !== trySeq) return;
      box.textContent = "";
      if (reply.status !== 200) {
        lastResult = null;
        clearMatches();
        var fields = reply.data.fields || {};
        Object.keys(fields).forEach(function (field) {
          var missing = /^inputs\.(.+)$/.exec(field);
          var cell = /^table\.rules\[(\d+)\]\.(input|output)s\[(\d+)\]$/.exec(field);
          if (cell) {
            var td = document.querySelector('#dt-table tr[data-rule="' + cell[1] + '"] td[data-kind="' + cell[2] +
                                            '"][data-column="' + cell[3] + '"]');
            if (td) td.classList.add("failed");
          }
          box.appendChild(el("p", {className: "error", role: "alert",
                                   text: missing ? T.missing + missing[1] : T.failed + fields[field]}));
        });
        if (!Object.keys(fields).length) box.appendChild(el("p", {className: "error", role: "alert", text: T.failed + (reply.data.message || reply.status)}));
        return;
      }
      lastResult = reply.data;
      markMatches(reply.data);
      if (reply.data.no_match) {
        box.appendChild(el("p", {className: "error", role: "alert", text: T.no_match}));
        return;
      }
      var numbers = reply.data.matched.map(function (r) { return r.number; }).join(", ");
      box.appendChild(el("p", {className: "dt-hit", text: fmt(T.matched, numbers)}));
      var list = el("dl", {className: "dt-outputs", id: "dt-outputs"});
      var names = table.outputs.map(function (c) { return c.name; }).filter(function (name) {
        return Object.prototype.hasOwnProperty.call(reply.data.outputs, name);
      });
      Object.keys(reply.data.outputs).forEach(function (name) { if (names.indexOf(name) < 0) names.push(name); });
      names.forEach(function (name) {
        var value = reply.data.outputs[name];
        list.appendChild(el("dt", {text: outputLabel(name)}, [el("code", {className: "dt-var", text: name})]));
        list.appendChild(el("dd", {"data-output": name, text: typeof value === "string" ? value : JSON.stringify(value)}));
      });
      box.appendChild(list);
      var others = reply.data.matching.filter(function (r) {
        return reply.data.matched.every(function (m) { return m.index !== r.index; });
      }).map(function (r) { return r.number; });
      if (others.length) box.appendChild(el("p", {className: "muted", text: fmt(T.also, others.join(", "))}));
    }).catch(function () { box.appendChild(el("p", {className: "error", text: T.network})); });
  }

  // --- save and publish -----------------------------------------------------------------------------

  function setStatus(text, kind) {
    var box = $("dt-status");
    if (!box) return;
    box.textContent = text;
    box.className = "dt-status " + (kind || "");
  }

  function saveDraft() {
    setStatus(T.saving, "pending");
    return post(urls.draft, {table: table}).then(function (reply) {
      if (reply.status === 200) { dirty = false; setStatus(reply.data.message, "ok"); }
      else if (reply.status === 403) setStatus(T.forbidden, "bad");
      else setStatus(T.failed + (reply.data.message || reply.status), "bad");
    }).catch(function () { setStatus(T.network, "bad"); });
  }

  function discardDraft() {
    return post(urls.draft, {discard: true}).then(function (reply) {
      if (reply.status === 200) { dirty = false; window.location.reload(); }
      else setStatus(T.failed + (reply.data.message || reply.status), "bad");
    });
  }

  function publish() {
    if (!window.confirm(T.confirm_publish)) return;
    setStatus(T.publishing, "pending");
    return post(urls.publish, {table: table, note: $("dt-note").value, version: state.version}).then(function (reply) {
      if (reply.status === 200) {
        dirty = false;
        setStatus(reply.data.message, "ok");
        window.setTimeout(function () { window.location.reload(); }, 1200);
      } else if (reply.status === 409) {
        setStatus(T.conflict, "bad");
      } else if (reply.status === 403) {
        setStatus(T.forbidden, "bad");
      } else if (reply.status === 422 && reply.data.fields && reply.data.fields.table &&
                 /same as version/.test(reply.data.fields.table)) {
        setStatus(T.unchanged, "bad");
      } else {
        setStatus(T.publish_failed, "bad");
        runLint();
      }
    }).catch(function () { setStatus(T.network, "bad"); });
  }

  function addRule() {
    var rule = {id: "", inputs: table.inputs.map(function () { return ""; }),
                outputs: table.outputs.map(function () { return ""; }), description: ""};
    // new rules go before the default rule, which must stay last
    var at = table.rules.length && isDefault(table.rules[table.rules.length - 1]) ? table.rules.length - 1 : table.rules.length;
    table.rules.splice(at, 0, rule);
    changed(true, true);
    var first = document.querySelector('#dt-table tr[data-rule="' + at + '"] input');
    if (first) first.focus();
  }

  function start() {
    state = readJson("dt-state");
    urls = readJson("dt-urls");
    T = readJson("dt-text");
    table = state.table;
    editable = state.editable;
    var policy = $("dt-hit-policy");
    policy.value = table.hit_policy;
    policy.addEventListener("change", function () { table.hit_policy = policy.value; changed(true); });
    render();
    buildTry();
    if (editable) {
      $("dt-add-rule").addEventListener("click", addRule);
      $("dt-save").addEventListener("click", saveDraft);
      $("dt-publish").addEventListener("click", publish);
      if ($("dt-discard")) $("dt-discard").addEventListener("click", discardDraft);
      window.addEventListener("beforeunload", function (event) {
        if (dirty) { event.preventDefault(); event.returnValue = ""; }
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
