// The tracking plan editor: meta-schema check as you type, try-it, infer, impact, diff, save.
(function () {
  "use strict";
  const root = document.querySelector("[data-api]");
  const api = root.dataset.api; // /api/apps/<id>/schemas
  const token = document.querySelector("meta[name=csrf-token]").content;
  const nameInput = document.getElementById("event-name");
  const schemaText = document.getElementById("schema-text");
  const check = document.getElementById("schema-check");
  const saveButton = document.getElementById("save");
  const editor = document.getElementById("editor");
  let checkTimer = null;

  function post(path, body) {
    return fetch(api + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": token },
      body: JSON.stringify(body),
    }).then(function (answer) {
      return answer.json().then(function (json) { return { ok: answer.ok, status: answer.status, body: json }; });
    });
  }

  function say(node, text, kind) {
    node.textContent = text;
    node.className = (node.className.split(" ")[0] || "") + " " + (kind || "");
  }

  function parsed(textarea, node) {
    try {
      return { value: JSON.parse(textarea.value) };
    } catch (error) {
      say(node, "Not valid JSON: " + error.message, "bad");
      return null;
    }
  }

  // The server checks the draft against the 2020-12 meta-schema (the same check as saving).
  function checkSchema() {
    const schema = parsed(schemaText, check);
    if (!schema) { saveButton.disabled = true; return Promise.resolve(null); }
    return post("/try", { schema: schema.value, payload: {} }).then(function (result) {
      const ok = result.status !== 400;
      saveButton.disabled = !ok;
      say(check, ok ? "The schema is valid JSON Schema (draft 2020-12)." : result.body.message, ok ? "good" : "bad");
      return ok ? schema.value : null;
    });
  }

  schemaText.addEventListener("input", function () {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(checkSchema, 300);
  });

  document.getElementById("try").addEventListener("click", function () {
    const out = document.getElementById("try-result");
    const schema = parsed(schemaText, check);
    const payload = parsed(document.getElementById("try-payload"), out);
    if (!schema || !payload) return;
    post("/try", { schema: schema.value, payload: payload.value }).then(function (result) {
      out.replaceChildren();
      if (result.status === 400) { say(out, result.body.message, "bad"); return; }
      if (result.body.valid) { say(out, "Valid: this payload would be stored as valid.", "good"); return; }
      say(out, result.body.errors.length + " error(s): this payload would be stored as invalid.", "bad");
      const list = document.createElement("ul");
      result.body.errors.forEach(function (error) {
        const item = document.createElement("li");
        const path = document.createElement("code");
        path.textContent = error.path || "/";
        item.appendChild(path);
        item.appendChild(document.createTextNode(" " + error.keyword + ": " + error.message));
        list.appendChild(item);
      });
      out.appendChild(list);
    });
  });

  function infer(name) {
    nameInput.value = name;
    say(check, "Inferring from stored examples of " + name + "…", "");
    return post("/infer", { event_name: name }).then(function (result) {
      if (!result.ok) { say(check, result.body.message, "bad"); return; }
      schemaText.value = JSON.stringify(result.body.schema, null, 2);
      checkSchema().then(function () {
        say(check, "Drafted from " + result.body.examples_read + " stored example(s); review it, then save.", "good");
      });
    });
  }

  // The same inference on pasted payloads: a new event needs no stored examples first.
  document.getElementById("infer-pasted").addEventListener("click", function () {
    const name = nameInput.value.trim();
    if (!name) { say(check, "Enter an event name first.", "bad"); return; }
    let examples;
    try { examples = JSON.parse(document.getElementById("examples-text").value); } catch (error) {
      say(check, "The examples are not valid JSON: " + error.message, "bad");
      return;
    }
    post("/infer", { event_name: name, examples: Array.isArray(examples) ? examples : [examples] })
      .then(function (result) {
        if (!result.ok) { say(check, result.body.message, "bad"); return; }
        schemaText.value = JSON.stringify(result.body.schema, null, 2);
        checkSchema().then(function () {
          say(check, "Drafted from " + result.body.examples_read + " pasted example(s); review it, then save.", "good");
        });
      });
  });

  document.getElementById("infer").addEventListener("click", function () {
    if (!nameInput.value.trim()) { say(check, "Enter an event name first.", "bad"); return; }
    infer(nameInput.value.trim());
  });
  document.querySelectorAll("[data-infer]").forEach(function (button) {
    button.addEventListener("click", function () { infer(button.dataset.infer); nameInput.focus(); });
  });
  document.querySelectorAll("[data-edit]").forEach(function (button) {
    button.addEventListener("click", function () {
      window.location.search = "?event=" + encodeURIComponent(button.dataset.edit);
    });
  });

  document.getElementById("impact").addEventListener("click", function () {
    const out = document.getElementById("impact-result");
    const schema = parsed(schemaText, out);
    if (!schema || !nameInput.value.trim()) return;
    say(out, "Replaying stored events…", "");
    post("/impact", { event_name: nameInput.value.trim(), schema: schema.value }).then(function (result) {
      if (!result.ok) { say(out, result.body.message, "bad"); return; }
      const b = result.body;
      out.replaceChildren();
      const summary = document.createElement("p");
      summary.dataset.replayed = b.replayed;
      summary.dataset.pass = b.would_pass;
      summary.dataset.fail = b.would_fail;
      summary.textContent = "Of the last " + b.replayed + " stored " + b.event_name + " events, " +
        b.would_pass + " would pass and " + b.would_fail + " would fail.";
      out.appendChild(summary);
      if (b.top_errors.length) {
        const list = document.createElement("ul");
        b.top_errors.forEach(function (e) {
          const item = document.createElement("li");
          item.textContent = (e.path || "/") + " " + e.keyword + ": " + e.events + " event(s)";
          list.appendChild(item);
        });
        out.appendChild(list);
      }
      out.className = "result " + (b.would_fail ? "bad" : "good");
    });
  });

  saveButton.addEventListener("click", function () {
    const name = nameInput.value.trim();
    if (!name) { say(check, "Enter an event name first.", "bad"); return; }
    checkSchema().then(function (schema) {
      if (schema === null) return;
      post("", { event_name: name, schema: schema }).then(function (result) {
        if (!result.ok) { say(check, result.body.message, "bad"); return; }
        const verb = result.body.created ? "Saved" : "Unchanged:";
        say(check, verb + " " + name + " v" + result.body.version + ".", "good");
        window.location.search = "?event=" + encodeURIComponent(name) + "&saved=" + result.body.version;
      });
    });
  });

  // The version pickers list the saved versions of the name in the editor: previous vs latest.
  function fillVersions() {
    const name = nameInput.value.trim();
    const pickers = [document.getElementById("diff-from"), document.getElementById("diff-to")];
    const button = document.getElementById("diff");
    const hint = document.getElementById("diff-hint");
    if (!name) return;
    fetch(api + "/" + encodeURIComponent(name) + "/versions", { credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.json() : { versions: [] }; })
      .then(function (body) {
        const numbers = body.versions.map(function (v) { return v.version; }); // newest first
        pickers.forEach(function (picker, which) {
          picker.replaceChildren();
          numbers.forEach(function (number) {
            const option = document.createElement("option");
            option.value = String(number);
            option.textContent = "v" + number;
            picker.appendChild(option);
          });
          picker.selectedIndex = which === 0 ? Math.min(1, numbers.length - 1) : 0;
        });
        button.disabled = numbers.length === 0;
        hint.hidden = numbers.length > 0;
      });
  }
  nameInput.addEventListener("change", fillVersions);

  document.getElementById("diff").addEventListener("click", function () {
    const out = document.getElementById("diff-result");
    const name = nameInput.value.trim();
    const from = document.getElementById("diff-from").value;
    const to = document.getElementById("diff-to").value;
    fetch(api + "/" + encodeURIComponent(name) + "/diff?from=" + from + "&to=" + to, { credentials: "same-origin" })
      .then(function (answer) { return answer.json(); })
      .then(function (body) {
        out.hidden = false;
        out.replaceChildren();
        if (!body.lines) { out.textContent = body.message; return; }
        if (!body.lines.length) { out.textContent = "The two versions are the same."; return; }
        body.lines.forEach(function (line) {
          const span = document.createElement("span");
          span.textContent = line + "\n";
          if (line[0] === "+" && !line.startsWith("+++")) span.className = "add";
          if (line[0] === "-" && !line.startsWith("---")) span.className = "del";
          out.appendChild(span);
        });
      });
  });

  if (editor.dataset.autoInfer && editor.dataset.chosen) infer(editor.dataset.chosen);
  else checkSchema();
})();
