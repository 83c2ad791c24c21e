// The live stream: poll for events newer than the newest shown, once a second.
// One short request per second per open page; nothing is held open on the server.
// Each poll looks back LOOKBACK_MS before the newest row (storage processes may commit
// out of order: an event can be stored after a newer one) and merges by id; it sends the
// storage mark of the last answer, so the server answers an idle poll without a query.
(function () {
  "use strict";
  const form = document.getElementById("filters");
  const rows = document.getElementById("rows");
  const pauseButton = document.getElementById("pause");
  const state = document.getElementById("live-state");
  const noEvents = document.getElementById("no-events");
  const olderButton = document.getElementById("load-older");
  const olderState = document.getElementById("older-state");
  const exportLink = document.getElementById("export-link");
  const eventsUrl = form.dataset.eventsUrl;
  const detailBase = form.dataset.detailBase;
  const MAX_ROWS = 200;
  const POLL_MS = 1000;
  const LOOKBACK_MS = 10000;
  const FORCED_QUERY_EVERY = 10; // polls; a lost mark change cannot hide events for long
  const NO_EVENT = "00000000-0000-0000-0000-000000000000"; // the cursor of an empty page
  let paused = false;
  let inFlight = false;
  let cursor = rows.firstElementChild ? rows.firstElementChild.dataset.id : null;
  let mark = null;
  let polls = 0;
  let browsingOlder = false; // once older pages are loaded, rows are no longer trimmed

  // Filters come from the address (links from the overview) and go back into it.
  const params = new URLSearchParams(window.location.search);
  ["status", "event", "q", "range"].forEach(function (name) {
    if (params.get(name) && form.elements[name]) form.elements[name].value = params.get(name);
  });
  // Events of CI test runs are hidden unless the toggle shows them.
  const testRuns = form.elements.test_runs;
  if (testRuns) testRuns.checked = params.get("test_runs") === "1";

  function query(extra) {
    const wanted = new URLSearchParams();
    ["status", "event", "q", "range"].forEach(function (name) {
      const value = form.elements[name].value.trim();
      if (value) wanted.set(name, value);
    });
    if (testRuns && testRuns.checked) wanted.set("test_runs", "1");
    Object.keys(extra).forEach(function (k) { if (extra[k]) wanted.set(k, extra[k]); });
    return wanted;
  }

  function cell(row, child) {
    const td = document.createElement("td");
    if (child) td.appendChild(child);
    row.appendChild(td);
    return td;
  }

  function element(tag, text, className) {
    const node = document.createElement(tag);
    node.textContent = text; // textContent: payload-derived text is never parsed as HTML
    if (className) node.className = className;
    return node;
  }

  function rowFor(event) {
    const tr = document.createElement("tr");
    tr.dataset.id = event.id;
    tr.className = "status-" + event.status + " fresh";
    const time = element("time", event.received_at);
    time.setAttribute("datetime", event.received_at);
    cell(tr, time);
    const link = document.createElement("a");
    link.href = detailBase + encodeURIComponent(event.id);
    link.appendChild(element("code", event.event_name));
    cell(tr, link);
    cell(tr, element("span", event.status, "badge " + event.status));
    const errorCell = cell(tr, null);
    if (event.first_error) {
      errorCell.appendChild(element("code", event.first_error.path || "/"));
      errorCell.appendChild(document.createTextNode(" " + event.first_error.message));
      if (event.error_count > 1) errorCell.appendChild(element("small", " (+" + (event.error_count - 1) + ")"));
    }
    return tr;
  }

  function show(events, replace) {
    if (replace) rows.replaceChildren();
    const fragment = document.createDocumentFragment();
    events.forEach(function (event) { fragment.appendChild(rowFor(event)); });
    rows.insertBefore(fragment, rows.firstChild);
    trim();
  }

  // Put events the page does not show yet in their place (newest id first).
  function merge(events) {
    const shown = new Set(Array.from(rows.children, function (row) { return row.dataset.id; }));
    events.slice().reverse().forEach(function (event) {
      if (shown.has(event.id)) return;
      let next = rows.firstElementChild;
      while (next && next.dataset.id > event.id) next = next.nextElementSibling;
      rows.insertBefore(rowFor(event), next);
    });
    trim();
  }

  function trim() {
    while (!browsingOlder && rows.children.length > MAX_ROWS) rows.removeChild(rows.lastChild);
    noEvents.hidden = rows.children.length > 0;
    if (window.lvdLocalize) window.lvdLocalize(rows);
  }

  function fetchEvents(extra) {
    return fetch(eventsUrl + "?" + query(extra).toString(), {
      headers: { Accept: "application/json" }, credentials: "same-origin",
    }).then(function (answer) {
      if (answer.status === 401) { window.location.reload(); throw new Error("logged out"); }
      if (!answer.ok) return answer.json().then(function (b) { throw new Error(b.message); });
      return answer.json();
    });
  }

  // The smallest UUIDv7 of LOOKBACK_MS before the id's moment (ids order by time).
  function lookBack(id) {
    const moment = parseInt(id.slice(0, 8) + id.slice(9, 13), 16) - LOOKBACK_MS;
    if (!(moment > 0)) return id;
    const hex = moment.toString(16).padStart(12, "0");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-0000-0000-000000000000";
  }

  function poll() {
    if (paused || inFlight || document.hidden) return;
    inFlight = true;
    polls += 1;
    const known = polls % FORCED_QUERY_EVERY === 0 ? null : mark;
    fetchEvents({ after: lookBack(cursor || NO_EVENT), mark: known })
      .then(function (body) {
        mark = body.mark || null;
        if (body.events.length) {
          const shownNewest = cursor;
          if (!cursor || body.events[0].id > cursor) cursor = body.events[0].id;
          // A full page that stops short of the page's newest row means more arrived than
          // one poll shows: start again from the newest. Otherwise merge.
          const oldest = body.events[body.events.length - 1].id;
          if (body.events.length === body.limit && (!shownNewest || oldest > shownNewest)) {
            show(body.events, true);
          } else {
            merge(body.events);
          }
        }
        state.textContent = "Live";
        state.className = "pill live";
      })
      .catch(function (error) { state.textContent = "Retrying: " + error.message; state.className = "pill warn"; })
      .finally(function () { inFlight = false; });
  }

  function reload() {
    inFlight = true;
    fetchEvents({})
      .then(function (body) {
        cursor = body.events.length ? body.events[0].id : null;
        mark = null;
        show(body.events, true);
        olderButton.hidden = !body.next_before;
      })
      .catch(function (error) { state.textContent = error.message; state.className = "pill warn"; })
      .finally(function () { inFlight = false; });
  }

  // Export carries the filters shown (its page preselects them).
  function updateExportLink() {
    const wanted = new URLSearchParams();
    if (form.elements.status.value) wanted.set("status", form.elements.status.value);
    if (form.elements.event.value.trim()) wanted.set("event_name", form.elements.event.value.trim());
    exportLink.href = exportLink.dataset.base + (wanted.toString() ? "?" + wanted.toString() : "");
  }

  // Older events: keyset pages by id (`before` the oldest row shown), filters kept.
  function loadOlder() {
    const oldest = rows.lastElementChild;
    if (!oldest) return;
    olderButton.disabled = true;
    fetchEvents({ before: oldest.dataset.id })
      .then(function (body) {
        browsingOlder = true;
        const fragment = document.createDocumentFragment();
        body.events.forEach(function (event) { fragment.appendChild(rowFor(event)); });
        rows.appendChild(fragment);
        trim();
        olderButton.hidden = !body.next_before;
        olderState.textContent = body.next_before ? "" : "No older events.";
      })
      .catch(function (error) { olderState.textContent = error.message; })
      .finally(function () { olderButton.disabled = false; });
  }
  olderButton.addEventListener("click", loadOlder);

  form.addEventListener("submit", function (submitted) {
    submitted.preventDefault();
    const address = new URL(window.location.href);
    address.search = query({}).toString();
    window.history.replaceState(null, "", address);
    browsingOlder = false;
    olderState.textContent = "";
    updateExportLink();
    reload();
  });
  updateExportLink();

  if (testRuns) testRuns.addEventListener("change", function () { form.requestSubmit(); });

  pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    pauseButton.setAttribute("aria-pressed", String(paused));
    state.textContent = paused ? "Paused" : "Live";
    state.className = paused ? "pill paused" : "pill live";
    if (!paused) poll();
  });

  // A hidden tab asks nothing; coming back it catches up at once instead of within a second.
  document.addEventListener("visibilitychange", function () { if (!document.hidden) poll(); });

  if (params.toString()) reload();
  setInterval(poll, POLL_MS);
})();
