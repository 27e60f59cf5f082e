// The process modeler of the studio: bpmn-js (Modeler, or NavigatedViewer when read-only) from
// node_modules, with OneStop's own properties panel. The panel edits exactly what the runtime reads:
// names and ids, documentation, lane roles, user-task forms (spiffworkflow:properties), due-time
// expressions, timers, scripts, flow conditions, multi-instance collections, called processes and
// decision references. Save keeps a draft; Publish validates the whole bundle on the server and lists
// every problem with its file and line.
(function () {
  "use strict";

  var FORM = "formJsonSchemaFilename";
  var UI_FORM = "formUiSchemaFilename";
  var DUE = "dueAt";
  var ID_RE = /^[A-Za-z_][A-Za-z0-9_.\-]*$/;
  // an ISO 8601 duration, date or repeating interval written without quotes (as the server's lint)
  var ISO_DURATION = "P(?=\\d|T\\d)(?:\\d+(?:[.,]\\d+)?[YMWD])*(?:T(?:\\d+(?:[.,]\\d+)?[HMS])+)?";
  var ISO_DATE = "\\d{4}-\\d{2}-\\d{2}(?:[T ]\\d{2}:\\d{2}(?::\\d{2}(?:[.,]\\d+)?)?(?:Z|[+-]\\d{2}(?::?\\d{2})?)?)?";
  var ISO_PART = "(?:" + ISO_DURATION + "|" + ISO_DATE + ")";
  var UNQUOTED_ISO = new RegExp("^(?:" + ISO_PART + "|R\\d*/" + ISO_PART + "(?:/" + ISO_PART + ")?)$", "i");

  var dataNode = document.getElementById("modeler-data");
  if (!dataNode) return;
  var data = JSON.parse(dataNode.textContent);
  var T = data.text;
  var catalog = data.catalog;
  var state = { dirty: false, busy: false, selected: null, modeler: null };

  function fmt(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_m, key) { return values[key] !== undefined ? values[key] : ""; });
  }

  function csrf() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.getAttribute("content") : "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (json) {
        return { ok: response.ok, status: response.status, json: json };
      });
    });
  }

  function setStatus(text, kind) {
    var status = document.getElementById("modeler-status");
    if (!status) return;
    status.textContent = text;
    status.className = kind === "bad" ? "field-error" : (kind === "ok" ? "ok" : "muted");
  }

  // --- DOM helpers ------------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else if (value === true) node.setAttribute(key, "");
      else node.setAttribute(key, value);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function field(label, control, hint, error) {
    return el("label", { className: "prop" }, [
      label, hint ? el("span", { className: "hint", text: hint }) : null, control,
      error ? el("span", { className: "field-error", role: "alert", text: error }) : null
    ]);
  }

  function textInput(name, value, onChange, opts) {
    opts = opts || {};
    return el("input", {
      name: name, id: "prop-" + name, value: value || "", disabled: !data.editable,
      placeholder: opts.placeholder, autocomplete: "off", spellcheck: "false",
      onchange: function (event) { onChange(event.target.value); }
    });
  }

  function textArea(name, value, onChange, rows, prose) {
    return el("textarea", {
      name: name, id: "prop-" + name, rows: String(rows || 4), disabled: !data.editable, spellcheck: "false",
      className: prose ? "" : "code", onchange: function (event) { onChange(event.target.value); }
    }, [value || ""]);
  }

  function select(name, value, options, onChange, empty) {
    var found = false;
    var opts = [];
    if (empty !== undefined) opts.push(el("option", { value: "", text: empty }));
    options.forEach(function (option) {
      var selected = option.value === value;
      found = found || selected;
      opts.push(el("option", { value: option.value, text: option.label, selected: selected }));
    });
    if (value && !found) {
      opts.push(el("option", { value: value, text: value + " " + T.notDeployed, selected: true }));
    }
    return el("select", {
      name: name, id: "prop-" + name, disabled: !data.editable,
      onchange: function (event) { onChange(event.target.value); }
    }, opts);
  }

  // --- the model --------------------------------------------------------------------------------

  function svc(name) { return state.modeler.get(name); }
  function is(bo, type) { return bo && typeof bo.$instanceOf === "function" && bo.$instanceOf(type); }
  function moddle() { return svc("moddle"); }
  function modeling() { return svc("modeling"); }

  function update(element, props) {
    if (!data.editable) return;
    modeling().updateProperties(element, props);
  }

  function updateModdle(element, target, props) {
    if (!data.editable) return;
    modeling().updateModdleProperties(element, target, props);
  }

  function extensionValues(bo) {
    return (bo.extensionElements && bo.extensionElements.values) || [];
  }

  function spiffProperties(bo) {
    var props = {};
    extensionValues(bo).forEach(function (value) {
      if (value.$type === "spiffworkflow:Properties") {
        (value.values || []).forEach(function (p) { if (p.name) props[p.name] = p.value || ""; });
      }
    });
    return props;
  }

  // Replace the extension elements of `bo`, keeping every foreign extension (camunda:, zeebe:, ...).
  function setExtensions(element, bo, keep, added) {
    var values = extensionValues(bo).filter(keep).concat(added);
    var ext;
    if (values.length) {
      ext = moddle().create("bpmn:ExtensionElements", { values: values });
      values.forEach(function (v) { v.$parent = ext; });
    }
    updateModdle(element, bo, { extensionElements: ext });
  }

  function setSpiffProperty(element, bo, name, value) {
    var current = null;
    extensionValues(bo).forEach(function (v) { if (v.$type === "spiffworkflow:Properties" && !current) current = v; });
    var entries = current ? (current.values || []).filter(function (p) { return p.name !== name; }) : [];
    var copies = entries.map(function (p) {
      return moddle().create("spiffworkflow:Property", { name: p.name, value: p.value });
    });
    if (value) copies.push(moddle().create("spiffworkflow:Property", { name: name, value: value }));
    var order = [FORM, UI_FORM, DUE];
    copies.sort(function (a, b) {
      var ia = order.indexOf(a.name), ib = order.indexOf(b.name);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib);
    });
    var added = [];
    if (copies.length) {
      var props = moddle().create("spiffworkflow:Properties", { values: copies });
      copies.forEach(function (c) { c.$parent = props; });
      added.push(props);
    }
    setExtensions(element, bo, function (v) { return v !== current; }, added);
  }

  function decisionRef(bo) {
    var ref = "";
    extensionValues(bo).forEach(function (v) { if (v.$type === "spiffworkflow:CalledDecisionId") ref = (v.value || "").trim(); });
    return ref;
  }

  function setDecisionRef(element, bo, value) {
    var added = value ? [moddle().create("spiffworkflow:CalledDecisionId", { value: value })] : [];
    setExtensions(element, bo, function (v) { return v.$type !== "spiffworkflow:CalledDecisionId"; }, added);
  }

  function documentation(bo) {
    return (bo.documentation || []).map(function (d) { return d.text || ""; }).join("\n");
  }

  function setDocumentation(element, bo, text) {
    var docs = text ? [moddle().create("bpmn:Documentation", { text: text })] : [];
    updateModdle(element, bo, { documentation: docs });
  }

  function formal(body) {
    return moddle().create("bpmn:FormalExpression", { body: body });
  }

  // A stand-in for a reference to something not in this file (e.g. loopDataInputRef "departments":
  // SpiffWorkflow reads it as a variable name): serialized as its id, exactly as it was written.
  function refStub(id) {
    return id ? moddle().create("bpmn:Property", { id: id }) : undefined;
  }

  function keepUnresolvedReferences(warnings) {
    var kept = 0;
    (warnings || []).forEach(function (warning) {
      var match = /unresolved reference <([^>]+)>/.exec(warning.message || "");
      if (!match || !warning.element || !warning.property) return;
      var stub = refStub(match[1]);
      var descriptor = warning.element.$descriptor;
      var name = warning.property.replace(/^bpmn:/, "");
      var prop = descriptor && descriptor.propertiesByName && (descriptor.propertiesByName[warning.property] ||
        descriptor.propertiesByName[name]);
      if (prop && prop.isMany) {
        var list = warning.element.get(prop.name);
        list.push(stub);
      } else {
        warning.element.set(prop ? prop.name : name, stub);
      }
      kept += 1;
    });
    return kept;
  }

  function idField(element, bo) {
    var error = null;
    var input = textInput("id", bo.id, function (value) {
      value = value.trim();
      if (value === bo.id) return;
      var ids = moddle().ids;
      if (!ID_RE.test(value)) error = T.idInvalid;
      else if ((ids && ids.assigned(value)) || svc("elementRegistry").get(value)) error = T.idTaken;
      if (error) { render(state.selected, error); return; }
      if (element.businessObject === bo) update(element, { id: value });
      else updateModdle(element, bo, { id: value });
    });
    return field(T.id, input);
  }

  // --- sections of the panel ----------------------------------------------------------------------

  function generalSection(element, bo, idError) {
    var parts = [el("h3", { text: T.element + " · " + bo.$type.replace("bpmn:", "") })];
    var id = idField(element, bo);
    if (idError) id.appendChild(el("span", { className: "field-error", role: "alert", text: idError }));
    parts.push(id);
    if (!is(bo, "bpmn:Lane")) {
      parts.push(field(T.name, textInput("name", bo.name, function (value) { update(element, { name: value }); })));
    }
    parts.push(field(T.documentation, textArea("documentation", documentation(bo), function (value) {
      setDocumentation(element, bo, value);
    }, 2, true)));
    return parts;
  }

  function processSection(element, process) {
    var parts = [el("h3", { text: T.process })];
    parts.push(idField(element, process));
    parts.push(field(T.name, textInput("process-name", process.name, function (value) {
      updateModdle(element, process, { name: value });
    })));
    var box = el("input", { type: "checkbox", name: "executable", id: "prop-executable", disabled: !data.editable,
      checked: process.isExecutable !== false,
      onchange: function (event) { updateModdle(element, process, { isExecutable: event.target.checked }); } });
    parts.push(el("label", { className: "check" }, [box, " " + T.executable]));
    parts.push(field(T.documentation, textArea("process-documentation", documentation(process), function (value) {
      setDocumentation(element, process, value);
    }, 3, true)));
    return parts;
  }

  function laneSection(element, bo) {
    var roles = catalog.roles.map(function (r) { return { value: r.code, label: r.code + " · " + r.label }; });
    var known = catalog.roles.some(function (r) { return r.code === bo.name; });
    var control = select("lane", bo.name || "", roles, function (value) { update(element, { name: value }); },
      T.chooseRole);
    var error = bo.name && !known ? fmt(T.laneUnknown, { name: bo.name }) : null;
    return [el("h3", { text: T.lane }), field(T.lane, control, T.laneHint, error)];
  }

  function userTaskSection(element, bo) {
    var props = spiffProperties(bo);
    var forms = catalog.forms.map(function (f) { return { value: f, label: f }; });
    var uiForms = catalog.uiForms.map(function (f) { return { value: f, label: f }; });
    return [
      el("h3", { text: T.form }),
      field(T.form, select("form", props[FORM] || "", forms, function (value) {
        setSpiffProperty(element, bo, FORM, value);
        // the UI hints of a form are named after it: triage.json -> triage.ui.json
        var ui = value ? value.replace(/\.json$/, ".ui.json") : "";
        if (catalog.uiForms.indexOf(ui) >= 0 && !spiffProperties(bo)[UI_FORM]) setSpiffProperty(element, bo, UI_FORM, ui);
      }, T.formNone)),
      field(T.uiForm, select("ui-form", props[UI_FORM] || "", uiForms, function (value) {
        setSpiffProperty(element, bo, UI_FORM, value);
      }, T.uiNone)),
      field(T.dueAt, textInput("due-at", props[DUE] || "", function (value) {
        setSpiffProperty(element, bo, DUE, value.trim());
      }), T.dueAtHint)
    ];
  }

  function scriptSection(element, bo) {
    return [el("h3", { text: T.script }), textArea("script", bo.script || "", function (value) {
      update(element, { script: value });
    }, 10)];
  }

  function conditionSection(element, bo) {
    var body = bo.conditionExpression ? bo.conditionExpression.body || "" : "";
    return [el("h3", { text: T.condition }), field(T.condition, textArea("condition", body, function (value) {
      update(element, { conditionExpression: value.trim() ? formal(value.trim()) : undefined });
    }, 2), T.conditionHint)];
  }

  function timerSection(element, definition) {
    var kinds = ["timeDate", "timeDuration", "timeCycle"];
    var kind = kinds.filter(function (k) { return definition[k]; })[0] || "timeDate";
    var text = definition[kind] ? definition[kind].body || "" : "";
    function setTimer(newKind, value) {
      var props = { timeDate: undefined, timeDuration: undefined, timeCycle: undefined };
      props[newKind] = formal(value);
      updateModdle(element, definition, props);
    }
    var parts = [el("h3", { text: T.timer })];
    parts.push(field(T.timerType, select("timer-kind", kind, kinds.map(function (k) {
      return { value: k, label: T[k] };
    }), function (value) { setTimer(value, text); })));
    var trimmed = text.trim();
    var warning = null;
    if (UNQUOTED_ISO.test(trimmed)) {
      warning = el("div", { className: "field-error", role: "alert", id: "timer-unquoted" }, [
        fmt(T.timerUnquoted, { text: trimmed }), " ",
        data.editable ? el("button", { type: "button", className: "link", text: T.timerQuote,
          onclick: function () { setTimer(kind, '"' + trimmed + '"'); } }) : null
      ]);
    }
    parts.push(field(T.timerExpr, textArea("timer", text, function (value) { setTimer(kind, value.trim()); }, 3)));
    if (warning) parts.push(warning);
    if (data.editable) parts.push(timerHelpers(kind, setTimer));
    return parts;
  }

  function timerHelpers(kind, setTimer) {
    var start = el("select", { name: "wd-start", id: "prop-wd-start" }, [
      el("option", { value: "now()", text: T.workdayNow }),
      el("option", { value: "received_at", text: T.workdayReceived })
    ]);
    var days = el("input", { type: "number", min: "1", max: "60", value: "2", name: "wd-days", id: "prop-wd-days" });
    var workdays = el("fieldset", { className: "helper" }, [
      el("legend", { text: T.workdayHelper }),
      el("div", { className: "helper-row" }, [
        field(T.workdayStart, start), field(T.workdayDays, days),
        el("button", { type: "button", id: "prop-wd-apply", text: T.workdayApply, onclick: function () {
          var n = Math.max(1, parseInt(days.value, 10) || 1);
          setTimer("timeDate", "workdays_after(" + start.value + ", " + n + ")");
        } })
      ])
    ]);
    var amount = el("input", { type: "number", min: "1", max: "999", value: "2", name: "du-amount", id: "prop-du-amount" });
    var unit = el("select", { name: "du-unit", id: "prop-du-unit" }, [
      el("option", { value: "H", text: T.durationHours }), el("option", { value: "D", text: T.durationDays })
    ]);
    var duration = el("fieldset", { className: "helper" }, [
      el("legend", { text: T.durationHelper }),
      el("div", { className: "helper-row" }, [
        amount, unit,
        el("button", { type: "button", text: T.workdayApply, onclick: function () {
          var n = Math.max(1, parseInt(amount.value, 10) || 1);
          setTimer("timeDuration", unit.value === "H" ? '"PT' + n + 'H"' : '"P' + n + 'D"');
        } })
      ])
    ]);
    return el("div", {}, kind === "timeDuration" ? [duration, workdays] : [workdays, duration]);
  }

  function multiInstanceSection(element, loop) {
    function refId(ref) { return ref ? ref.id || "" : ""; }
    function itemName(item) { return item ? item.name || item.id || "" : ""; }
    function setItem(prop, value) {
      value = value.trim();
      var props = {};
      if (!value) props[prop] = undefined;
      else {
        var id = value;
        var old = loop[prop];
        if (moddle().ids && moddle().ids.assigned(id) && !(old && old.id === id)) id = value + "_" + element.id;
        props[prop] = moddle().create("bpmn:DataInput", { id: id, name: value });
        if (prop === "outputDataItem") props[prop] = moddle().create("bpmn:DataOutput", { id: id, name: value });
      }
      updateModdle(element, loop, props);
    }
    var cardinality = loop.loopCardinality ? loop.loopCardinality.body || "" : "";
    var sequential = el("input", { type: "checkbox", name: "sequential", id: "prop-sequential", disabled: !data.editable,
      checked: !!loop.isSequential,
      onchange: function (event) { updateModdle(element, loop, { isSequential: event.target.checked }); } });
    return [
      el("h3", { text: T.multi }),
      field(T.collection, textInput("collection", refId(loop.loopDataInputRef), function (value) {
        updateModdle(element, loop, { loopDataInputRef: refStub(value.trim()) });
      }, { placeholder: "departments" })),
      field(T.elementVar, textInput("element-variable", itemName(loop.inputDataItem), function (value) {
        setItem("inputDataItem", value);
      }, { placeholder: "department" })),
      field(T.outputCollection, textInput("output-collection", refId(loop.loopDataOutputRef), function (value) {
        updateModdle(element, loop, { loopDataOutputRef: refStub(value.trim()) });
      }, { placeholder: "opinions" })),
      field(T.outputElement, textInput("output-element", itemName(loop.outputDataItem), function (value) {
        setItem("outputDataItem", value);
      }, { placeholder: "opinion" })),
      field(T.cardinality, textInput("cardinality", cardinality, function (value) {
        updateModdle(element, loop, { loopCardinality: value.trim() ? formal(value.trim()) : undefined });
      })),
      el("label", { className: "check" }, [sequential, " " + T.sequential])
    ];
  }

  function callActivitySection(element, bo) {
    var options = catalog.processes.map(function (p) { return { value: p.id, label: p.id + " · " + p.name }; });
    return [el("h3", { text: T.calledElement }), field(T.calledElement, select("called-element",
      bo.calledElement || "", options, function (value) { update(element, { calledElement: value || undefined }); },
      T.chooseOne))];
  }

  function decisionSection(element, bo) {
    var options = catalog.decisions.map(function (d) { return { value: d.id, label: d.id + " · " + d.name }; });
    return [el("h3", { text: T.decision }), field(T.decision, select("decision", decisionRef(bo), options,
      function (value) { setDecisionRef(element, bo, value); }, T.chooseOne))];
  }

  // --- the panel --------------------------------------------------------------------------------

  function render(element, idError) {
    var panel = document.getElementById("modeler-panel");
    panel.innerHTML = "";
    var canvas = svc("canvas");
    if (!element) element = canvas.getRootElement();
    state.selected = element;
    var bo = element.businessObject;
    if (!bo) { panel.appendChild(el("p", { className: "muted", text: T.selectHint })); return; }
    var parts = [];
    if (!data.editable) parts.push(el("p", { className: "muted", text: T.readOnly }));
    if (element === canvas.getRootElement() && is(bo, "bpmn:Collaboration")) {
      parts.push(el("p", { className: "muted", text: T.selectHint }));
      (bo.participants || []).forEach(function (participant) {
        if (participant.processRef) parts = parts.concat(processSection(element, participant.processRef));
      });
    } else if (is(bo, "bpmn:Process")) {
      parts.push(el("p", { className: "muted", text: T.selectHint }));
      parts = parts.concat(processSection(element, bo));
    } else {
      parts = parts.concat(generalSection(element, bo, idError));
      if (is(bo, "bpmn:Participant") && bo.processRef) parts = parts.concat(processSection(element, bo.processRef));
      if (is(bo, "bpmn:Lane")) parts = parts.concat(laneSection(element, bo));
      if (is(bo, "bpmn:UserTask")) parts = parts.concat(userTaskSection(element, bo));
      if (is(bo, "bpmn:ScriptTask")) parts = parts.concat(scriptSection(element, bo));
      if (is(bo, "bpmn:SequenceFlow")) parts = parts.concat(conditionSection(element, bo));
      if (is(bo, "bpmn:CallActivity")) parts = parts.concat(callActivitySection(element, bo));
      if (is(bo, "bpmn:BusinessRuleTask")) parts = parts.concat(decisionSection(element, bo));
      (bo.eventDefinitions || []).forEach(function (definition) {
        if (is(definition, "bpmn:TimerEventDefinition")) parts = parts.concat(timerSection(element, definition));
      });
      if (is(bo.loopCharacteristics, "bpmn:MultiInstanceLoopCharacteristics")) {
        parts = parts.concat(multiInstanceSection(element, bo.loopCharacteristics));
      }
    }
    parts.forEach(function (part) { panel.appendChild(part); });
  }

  // --- saving and publishing ----------------------------------------------------------------------

  function xml() {
    return state.modeler.saveXML({ format: true }).then(function (result) { return result.xml; });
  }

  // Show an element, also one inside a collapsed subprocess (drawn on a plane of its own), and select it.
  function reveal(element) {
    var canvas = svc("canvas");
    var root = canvas.findRoot(element);
    if (root && root !== canvas.getRootElement()) canvas.setRootElement(root);
    svc("selection").select(element);
    canvas.scrollToElement(element);
  }

  function showProblems(title, problems) {
    var box = document.getElementById("modeler-problems");
    var list = box.querySelector("ul");
    list.innerHTML = "";
    document.getElementById("modeler-problems-title").textContent = title || "";
    (problems || []).forEach(function (problem) {
      var where = problem.file + (problem.line ? " · " + fmt(T.line, { n: problem.line }) : "");
      var item = el("li", {}, [el("code", { text: where }), " ", problem.message]);
      var target = problem.element && svc("elementRegistry").get(problem.element);
      if (target) {
        item.appendChild(el("button", { type: "button", className: "link", text: problem.element, onclick: function () {
          reveal(target);
        } }));
      }
      list.appendChild(item);
    });
    box.hidden = !title && !(problems && problems.length);
  }

  function save() {
    if (state.busy) return Promise.resolve(false);
    state.busy = true;
    setStatus(T.saving);
    return xml().then(function (text) {
      return post(data.urls.save, { xml: text });
    }).then(function (result) {
      state.busy = false;
      if (!result.ok) {
        setStatus(fmt(T.saveFailed, { reason: result.json.message || result.status }), "bad");
        return false;
      }
      state.dirty = false;
      setStatus(result.json.message, "ok");
      var discard = document.getElementById("modeler-discard");
      if (discard) discard.hidden = false;
      return true;
    }).catch(function (error) {
      state.busy = false;
      setStatus(fmt(T.saveFailed, { reason: error.message }), "bad");
      return false;
    });
  }

  function publish(note, also) {
    showProblems("", []);
    return save().then(function (saved) {
      if (!saved) return false;
      setStatus(T.publishing);
      state.busy = true;
      return post(data.urls.publish, { note: note, also: also }).then(function (result) {
        state.busy = false;
        if (!result.ok) {
          setStatus(result.json.message || String(result.status), "bad");
          showProblems(T.problems + " " + (result.json.message || ""), result.json.problems || []);
          return false;
        }
        setStatus(result.json.message, "ok");
        var discard = document.getElementById("modeler-discard");
        if (discard) discard.hidden = true;
        return true;
      });
    });
  }

  function discard() {
    if (!window.confirm(T.confirmDiscard)) return;
    post(data.urls.discard, {}).then(function (result) {
      if (!result.ok) { setStatus(result.json.message || String(result.status), "bad"); return; }
      state.dirty = false;
      window.location.href = result.json.redirect;
    });
  }

  function download() {
    xml().then(function (text) {
      var link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "application/xml" })),
        download: data.filename });
      document.body.appendChild(link);
      link.click();
      link.remove();
    });
  }

  function wireButtons() {
    var saveButton = document.getElementById("modeler-save");
    if (saveButton) saveButton.addEventListener("click", save);
    var discardButton = document.getElementById("modeler-discard");
    if (discardButton) discardButton.addEventListener("click", discard);
    document.getElementById("modeler-download").addEventListener("click", download);
    var dialog = document.getElementById("publish-dialog");
    var publishButton = document.getElementById("modeler-publish");
    if (publishButton && dialog) {
      publishButton.addEventListener("click", function () { dialog.showModal(); });
      dialog.addEventListener("close", function () {
        if (dialog.returnValue !== "publish") return;
        var form = document.getElementById("publish-form");
        var also = Array.prototype.slice.call(form.querySelectorAll("input[name=also]:checked"))
          .map(function (box) { return box.value; });
        publish(document.getElementById("publish-note").value, also);
      });
    }
    document.addEventListener("keydown", function (event) {
      if ((event.ctrlKey || event.metaKey) && event.key === "s" && data.editable) {
        event.preventDefault();
        save();
      }
    });
    window.addEventListener("beforeunload", function (event) {
      if (state.dirty) { event.preventDefault(); event.returnValue = T.leave; }
    });
  }

  function start(descriptor) {
    var Ctor = window.BpmnJS;
    var panel = document.getElementById("modeler-panel");
    if (!Ctor) { panel.textContent = fmt(T.importFailed, { reason: "bpmn-js" }); return; }
    state.modeler = new Ctor({ container: "#modeler-canvas", moddleExtensions: { spiffworkflow: descriptor } });
    window.onestopModeler = { modeler: state.modeler, save: save, publish: publish, render: render, reveal: reveal,
      keepUnresolvedReferences: keepUnresolvedReferences, importXML: importXML };
    var events = svc("eventBus");
    events.on("selection.changed", function (event) {
      if (state.importing) return;
      var selection = event.newSelection || [];
      render(selection.length === 1 ? selection[0] : null);
    });
    events.on("elements.changed", function (event) {
      if (!state.selected) return;
      var touched = (event.elements || []).some(function (e) { return e === state.selected || e.id === state.selected.id; });
      if (touched) {
        var current = svc("elementRegistry").get(state.selected.id);
        render(current || null);
      }
    });
    // after bpmn-js has ordered the diagram elements (it listens with a higher priority)
    events.on("saveXML.start", 500, restoreHiddenDi);
    if (data.editable) {
      events.on("commandStack.changed", function () {
        state.dirty = true;
        setStatus(T.unsaved);
      });
    }
    wireButtons();
    importXML(data.xml).then(function (result) {
      if (result.warnings.length) setStatus(fmt(T.importWarnings, { n: result.warnings.length }));
      document.body.setAttribute("data-modeler-ready", "1");
    }).catch(function (error) {
      panel.textContent = fmt(T.importFailed, { reason: error.message });
      document.body.setAttribute("data-modeler-ready", "error");
    });
  }

  // bpmn-js rewrites each diagram plane from what it renders when saving, which drops diagram
  // elements it cannot show (shapes of a process no pool refers to, edges without a model element).
  // Remember them after the import and put them back before every save, so nothing is lost.
  function rememberHiddenDi() {
    var rendered = new Set();
    svc("elementRegistry").getAll().forEach(function (element) { if (element.di) rendered.add(element.di); });
    var hidden = [];
    (state.modeler.getDefinitions().diagrams || []).forEach(function (diagram) {
      var plane = diagram.plane;
      if (!plane) return;
      (plane.planeElement || []).forEach(function (di) {
        if (!rendered.has(di)) hidden.push({ plane: plane, di: di });
      });
    });
    state.hiddenDi = hidden;
  }

  function restoreHiddenDi() {
    (state.hiddenDi || []).forEach(function (entry) {
      var list = entry.plane.get("planeElement");
      if (list.indexOf(entry.di) < 0) list.push(entry.di);
    });
  }

  // Import, then put back references to ids that are not in the file (bpmn-js would drop them on save).
  function importXML(text) {
    state.importing = true;
    return state.modeler.importXML(text).then(function (result) {
      state.importing = false;
      var kept = keepUnresolvedReferences(result.warnings);
      rememberHiddenDi();
      var warnings = result.warnings.filter(function (w) { return !/unresolved reference/.test(w.message || ""); });
      svc("canvas").zoom("fit-viewport", "auto");
      render(null);
      state.dirty = false;
      return { warnings: warnings, kept: kept };
    }, function (error) {
      state.importing = false;
      throw error;
    });
  }

  function boot() {
    fetch(data.urls.moddle, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(start)
      .catch(function (error) {
        document.getElementById("modeler-panel").textContent = fmt(T.importFailed, { reason: error.message });
      });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
