// @ts-check
/*
 * Credence's analyst console. Everything it shows comes from the GraphQL API at
 * /graphql, asked with the API key typed in at sign-in (kept in this tab's
 * sessionStorage only, sent as a Bearer header). `viewer` tells the key's role and the
 * server's limits: an app key sees scores and reasons; analysts and admins also see
 * the network evidence (ego graph, contributors, blast radius, paths, clusters, flags);
 * admins the audit log. Pages never exceed the server's maxFirst; big neighbourhoods
 * are sampled and what is left out is counted ("+N more").
 */
(function () {
  "use strict";

  const KEY_STORAGE = "credence.console.apiKey";
  const endpoint = new URL(document.body.dataset.endpoint || "/graphql", window.location.href).href;
  const root = /** @type {HTMLElement} */ (document.getElementById("app"));
  const who = /** @type {HTMLElement} */ (document.getElementById("who"));
  const signOutButton = /** @type {HTMLButtonElement} */ (document.getElementById("sign-out"));

  /** @typedef {{ name: string, role: string, permissions: string[], maxFirst: number, maxAliases: number }} Viewer */
  /** @typedef {{ key: string, label: string, num?: boolean, digits?: number, render?: (row: any) => Node | string }} Column */
  /** @typedef {import("cytoscape").Core} Graph */

  /** Ego-graph sampling: neighbours drawn around the focus, and friends drawn per neighbour. */
  const EGO_FIRST = 100;
  const EGO_SECOND = 5;
  const EVIDENCE_ITEMS = 50;
  const BANDS = ["poor", "fair", "good", "very_good", "excellent"];

  /** @type {{ key: string, viewer: Viewer | null, graphs: Record<string, Graph | undefined> }} */
  const state = { key: "", viewer: null, graphs: {} };
  /** @type {Array<{ name: string, ms: number, detail: Record<string, number> }>} */
  const timings = [];
  window.credenceConsole = { timings, graphs: state.graphs };

  /** @param {string} name @param {number} start @param {Record<string, number>} [detail] */
  function recordTiming(name, start, detail) {
    timings.push({ name, ms: performance.now() - start, detail: detail || {} });
  }

  // ------------------------------------------------------------------ DOM helpers

  /**
   * An element with attributes (`text`, `class`, `on<event>` handlers, others as attributes) and children.
   * @param {string} tag
   * @param {Record<string, unknown>} [attrs]
   * @param {Array<Node | string | null | undefined | false>} [children]
   * @returns {HTMLElement}
   */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) {
        continue;
      }
      if (name === "text") {
        node.textContent = String(value);
      } else if (name.startsWith("on") && typeof value === "function") {
        node.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
      } else {
        node.setAttribute(name, value === true ? "" : String(value));
      }
    }
    for (const child of children || []) {
      if (child !== null && child !== undefined && child !== false) {
        node.append(child);
      }
    }
    return node;
  }

  /** @param {string} id @returns {HTMLElement} */
  function byId(id) {
    return /** @type {HTMLElement} */ (document.getElementById(id));
  }

  /** @param {number} value @param {number} [digits] @returns {string} */
  function fmt(value, digits) {
    if (value === null || value === undefined) {
      return "-";
    }
    return Number(value).toFixed(digits === undefined ? 2 : digits);
  }

  /** @param {number} value @returns {string} */
  function pct(value) {
    return value === null || value === undefined ? "-" : `${(100 * value).toFixed(1)}%`;
  }

  /** @param {HTMLElement} input an input or select @returns {string} its value, trimmed */
  function inputValue(input) {
    return /** @type {HTMLInputElement} */ (input).value.trim();
  }

  /** @param {string} permission @returns {boolean} */
  function can(permission) {
    return state.viewer !== null && state.viewer.permissions.includes(permission);
  }

  /** @param {number} wanted @returns {number} a page size within the server's limit */
  function page(wanted) {
    return Math.min(wanted, state.viewer ? state.viewer.maxFirst : wanted);
  }

  /** @param {number} value @returns {number} a positive integer for a page size written into a document */
  function int(value) {
    const n = Math.trunc(Number(value));
    return Number.isFinite(n) && n > 0 ? n : 1;
  }

  /**
   * Say something on the status line: an error (the default) or a plain note.
   * @param {string} message
   * @param {"error" | "note"} [kind]
   */
  function setStatus(message, kind) {
    const status = document.getElementById("status");
    if (status) {
      status.className = kind === "note" ? "note" : "error";
      status.textContent = message;
    }
  }

  // ------------------------------------------------------------------ the API

  class ApiError extends Error {
    /** @param {string} message @param {string} code */
    constructor(message, code) {
      super(message);
      this.code = code;
    }
  }

  /** Errors of fields that failed in answers that still had data (shown by `guarded` when its task ends). */
  /** @type {string[]} */
  const partialErrors = [];

  /** @param {any} error @returns {string} the error's extensions.code and message */
  function describe(error) {
    const code = (error && error.extensions && error.extensions.code) || "ERROR";
    const where = error && Array.isArray(error.path) ? ` (at ${error.path.join(".")})` : "";
    return `${code}: ${error && error.message ? error.message : "no message"}${where}`;
  }

  /**
   * Run one GraphQL operation with the signed-in key.
   * @param {string} query
   * @param {Record<string, unknown>} [variables]
   * @param {string} [key] the key to use (the signed-in one by default)
   * @returns {Promise<any>} the `data` (errors of nullable evidence fields are kept for the status line, the rest returned)
   */
  async function gql(query, variables, key) {
    const secret = key === undefined ? state.key : key;
    /** @type {Response} */
    let response;
    try {
      response = await fetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${secret}` },
        body: JSON.stringify({ query, variables: variables || {} }),
      });
    } catch (error) {
      throw new ApiError(`NETWORK: the API at ${endpoint} did not answer (${error})`, "NETWORK");
    }
    const text = await response.text();
    /** @type {any} */
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ApiError(`HTTP_${response.status}: the API answered HTTP ${response.status} ${response.statusText} without a GraphQL result: ${text.slice(0, 200)}`, `HTTP_${response.status}`);
    }
    const errors = body && Array.isArray(body.errors) ? body.errors : [];
    if (!body || !body.data) {
      const first = errors[0];
      throw new ApiError(first ? describe(first) : `HTTP_${response.status}: no data in the answer`,
        (first && first.extensions && first.extensions.code) || `HTTP_${response.status}`);
    }
    for (const error of errors) {
      partialErrors.push(describe(error));
    }
    return body.data;
  }

  /**
   * Run `task`; a failure goes to the status line naming `what` failed and the API's code.
   * @param {string} what what the task does, e.g. "Opening user u00042"
   * @param {() => Promise<void>} task
   * @returns {Promise<void>}
   */
  async function guarded(what, task) {
    setStatus("");
    partialErrors.length = 0;
    try {
      await task();
      if (partialErrors.length > 0) {
        setStatus(`${what}: part of the answer failed: ${partialErrors.join("; ")}`);
      }
    } catch (error) {
      setStatus(`${what} failed: ${error instanceof Error ? error.message : String(error)}`);
      if (error instanceof ApiError && error.code === "UNAUTHENTICATED") {
        signOut("The key is no longer accepted: sign in again.");
      }
    } finally {
      partialErrors.length = 0;
    }
  }

  // ------------------------------------------------------------------ sign-in

  const VIEWER = "{ viewer { name role permissions maxFirst maxAliases } }";

  /** @param {string} [message] */
  function renderSignIn(message) {
    who.textContent = "";
    signOutButton.hidden = true;
    const input = el("input", { id: "key", type: "password", autocomplete: "off", placeholder: "cred_... (kept in this tab only)", required: true });
    const error = el("p", { id: "signin-error", class: "error", role: "alert", text: message || "" });
    const form = el("form", { id: "signin", class: "card signin" }, [
      el("h2", { text: "Sign in with an API key" }),
      el("label", { for: "key", text: "API key" }),
      input,
      el("p", { class: "muted", text: "The key stays in this browser tab (sessionStorage) and goes to the API as a Bearer header." }),
      el("button", { id: "sign-in", type: "submit", text: "Sign in" }),
      error,
    ]);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void signIn(inputValue(input), error);
    });
    root.replaceChildren(form);
    input.focus();
  }

  /** @param {string} key @param {HTMLElement | null} error */
  async function signIn(key, error) {
    try {
      const data = await gql(VIEWER, {}, key);
      state.key = key;
      state.viewer = data.viewer;
      window.sessionStorage.setItem(KEY_STORAGE, key);
      renderMain();
    } catch (failure) {
      window.sessionStorage.removeItem(KEY_STORAGE);
      const message = `Sign-in failed: ${failure instanceof Error ? failure.message : failure}`;
      if (error) {
        error.textContent = message;
      } else {
        renderSignIn(message);
      }
    }
  }

  /** @param {string} [message] */
  function signOut(message) {
    window.sessionStorage.removeItem(KEY_STORAGE);
    state.key = "";
    state.viewer = null;
    destroyGraphs();
    renderSignIn(message);
  }
  signOutButton.addEventListener("click", () => signOut());

  function destroyGraphs() {
    for (const [name, graph] of Object.entries(state.graphs)) {
      if (graph) {
        graph.destroy();
      }
      state.graphs[name] = undefined;
    }
  }

  // ------------------------------------------------------------------ layout and tabs

  /** @type {Array<{ id: string, label: string, permission: string, render: (view: HTMLElement, data?: any) => void }>} */
  const TABS = [
    { id: "users", label: "Users", permission: "read", render: renderUsersTab },
    { id: "clusters", label: "Clusters", permission: "evidence", render: renderClustersTab },
    { id: "paths", label: "Influence paths", permission: "evidence", render: renderPathsTab },
    { id: "audit", label: "Audit log", permission: "admin", render: renderAuditTab },
  ];

  function renderMain() {
    const viewer = /** @type {Viewer} */ (state.viewer);
    who.textContent = `${viewer.name} (${viewer.role})`;
    signOutButton.hidden = false;
    const tabs = TABS.filter((tab) => can(tab.permission));
    const nav = el("nav", { role: "tablist", "aria-label": "views" }, tabs.map((tab) => el("button", {
      id: `tab-${tab.id}`, type: "button", role: "tab", "aria-selected": "false", "aria-controls": "view", text: tab.label,
      onclick: () => showTab(tab.id),
    })));
    // The arrow keys move between the tabs (Tab moves on to the view), as in WAI-ARIA's tabs pattern.
    nav.addEventListener("keydown", (event) => {
      const buttons = /** @type {HTMLButtonElement[]} */ ([...nav.querySelectorAll("button")]);
      const at = buttons.indexOf(/** @type {any} */ (document.activeElement));
      const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
      if (at >= 0 && step !== 0) {
        event.preventDefault();
        const next = buttons[(at + step + buttons.length) % buttons.length];
        next.focus();
        next.click();
      }
    });
    root.replaceChildren(nav, el("p", { id: "status", class: "error", role: "alert", tabindex: "-1" }), el("section", { id: "view", role: "tabpanel" }));
    showTab("users");
    byId("search-id").focus();
  }

  /** @param {string} id @param {any} [data] what the tab shows, when already read */
  function showTab(id, data) {
    const tab = TABS.find((t) => t.id === id && can(t.permission));
    if (!tab) {
      return;
    }
    for (const button of document.querySelectorAll("nav button")) {
      button.setAttribute("aria-selected", String(button.id === `tab-${id}`));
    }
    destroyGraphs();
    setStatus("");
    const view = byId("view");
    view.replaceChildren();
    view.setAttribute("aria-labelledby", `tab-${id}`);
    tab.render(view, data);
  }

  // ------------------------------------------------------------------ sortable tables

  /**
   * A table whose column headers sort it (click or Enter); rows are focusable and call `onSelect`.
   * @param {string} id
   * @param {Column[]} columns
   * @param {any[]} rows
   * @param {{ onSelect?: (row: any) => void, sort?: string, descending?: boolean, rowKey?: string }} [options]
   * @returns {HTMLElement}
   */
  function sortableTable(id, columns, rows, options) {
    const opts = options || {};
    let sortKey = opts.sort || "";
    let descending = opts.descending !== false;
    const tbody = el("tbody");
    const headers = columns.map((column) => el("th", { class: column.num ? "num" : undefined, scope: "col" }, [
      el("button", { type: "button", text: column.label, onclick: () => {
        descending = sortKey === column.key ? !descending : true;
        sortKey = column.key;
        draw();
      } }),
    ]));
    const table = el("table", { id }, [el("thead", {}, [el("tr", {}, headers)]), tbody]);

    function draw() {
      const sorted = [...rows];
      if (sortKey) {
        sorted.sort((a, b) => {
          const x = a[sortKey];
          const y = b[sortKey];
          if (x === null || x === undefined || y === null || y === undefined) {
            return (x === null || x === undefined ? 1 : 0) - (y === null || y === undefined ? 1 : 0); // no value: last, either way
          }
          const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
          return descending ? -order : order;
        });
      }
      columns.forEach((column, i) => {
        headers[i].setAttribute("aria-sort", column.key === sortKey ? (descending ? "descending" : "ascending") : "none");
      });
      tbody.replaceChildren(...sorted.map((row) => {
        const tr = el("tr", { tabindex: opts.onSelect ? "0" : undefined, "data-user": opts.rowKey ? row[opts.rowKey] : undefined },
          columns.map((column) => {
            const value = row[column.key];
            const content = column.render ? column.render(row) : column.num ? fmt(value, column.digits) : String(value ?? "-");
            return el("td", { class: column.num ? "num" : undefined }, [content]);
          }));
        if (opts.onSelect) {
          const choose = opts.onSelect;
          tr.addEventListener("click", () => choose(row));
          tr.addEventListener("keydown", (event) => {
            if ((event.key === "Enter" || event.key === " ") && event.target === tr) {
              event.preventDefault();
              choose(row);
            }
          });
        }
        return tr;
      }));
    }
    draw();
    return table;
  }

  /** @param {string} userId @returns {HTMLElement} a button opening the user's card */
  function userLink(userId) {
    return el("button", { type: "button", class: "link", "data-open": userId, text: userId, onclick: (/** @type {Event} */ event) => {
      event.stopPropagation();
      void openUser(userId);
    } });
  }

  /** @param {string} userId mark the rows of `userId` in every table and its node in every graph */
  function select(userId) {
    for (const row of document.querySelectorAll("tr[data-user]")) {
      row.classList.toggle("selected", row.getAttribute("data-user") === userId);
    }
    for (const graph of Object.values(state.graphs)) {
      if (!graph) {
        continue;
      }
      graph.elements().removeClass("picked");
      const node = graph.getElementById(userId);
      if (node.nonempty()) {
        node.addClass("picked");
        node.connectedEdges().addClass("picked");
      }
    }
  }

  // ------------------------------------------------------------------ graphs

  const GRAPH_STYLE = [
    { selector: "node", style: { "background-color": "data(color)", width: "data(size)", height: "data(size)", label: "data(label)", "font-size": 8, "min-zoomed-font-size": 7, color: "#333", "text-valign": "bottom" } },
    { selector: "node.focus", style: { "border-width": 3, "border-color": "#0b57d0" } },
    { selector: "edge", style: { width: "data(width)", "line-color": "#b8c0cc", opacity: 0.7, "curve-style": "haystack" } },
    { selector: ".picked", style: { "border-width": 3, "border-color": "#f2a900", "line-color": "#f2a900", opacity: 1, "z-index": 10 } },
    { selector: ".path", style: { "line-color": "#0b57d0", "border-width": 3, "border-color": "#0b57d0", width: 4, opacity: 1, label: "data(hop)", "font-size": 9, "curve-style": "bezier", "z-index": 9 } },
    { selector: ".dim", style: { opacity: 0.25 } },
  ];

  /**
   * Draw a graph into `container` (concentric by `level`, highest in the middle).
   *
   * The container is focusable and is the graph's keyboard control: the arrow keys
   * (Home, End) pick a node (its rows light up as a click on it would), Enter or Space
   * does what a click on the picked node does, Escape clears the pick; a live line
   * under the graph names the picked node.
   * @param {string} name
   * @param {HTMLElement} container
   * @param {any[]} elements
   * @param {(id: string, byKeyboard: boolean) => void} onTap
   * @param {{ label: string, layout?: string }} options label: what the graph shows (for screen readers); layout: a cytoscape layout name (concentric by default)
   * @returns {Graph}
   */
  function drawGraph(name, container, elements, onTap, options) {
    const previous = state.graphs[name];
    if (previous) {
      previous.destroy();
    }
    const graph = window.cytoscape({
      container,
      elements,
      style: /** @type {any} */ (GRAPH_STYLE),
      layout: /** @type {any} */ (options.layout
        ? { name: options.layout, animate: false, padding: 30 }
        : { name: "concentric", concentric: (/** @type {any} */ node) => node.data("level"), levelWidth: () => 1, animate: false, minNodeSpacing: 4 }),
      minZoom: 0.2,
      maxZoom: 2,
      wheelSensitivity: 0.3,
    });
    graph.on("tap", "node", (event) => onTap(event.target.id(), false));
    state.graphs[name] = graph;

    const order = graph.nodes().toArray().sort((a, b) => b.data("level") - a.data("level") || b.data("size") - a.data("size") || (a.id() < b.id() ? -1 : 1));
    const announce = el("p", { id: `${container.id}-picked`, class: "graph-pick", "aria-live": "polite",
      text: `${order.length} nodes; keyboard: arrow keys pick one, Enter ${name === "ego" ? "moves the focus to it" : "marks it"}.` });
    const stale = document.getElementById(announce.id);
    if (stale) {
      stale.remove();
    }
    container.after(announce);
    container.tabIndex = 0;
    container.setAttribute("role", "application");
    container.setAttribute("aria-roledescription", "graph");
    container.setAttribute("aria-label", `${options.label}: ${order.length} nodes`);
    container.setAttribute("aria-describedby", announce.id);
    let index = -1;
    container.onkeydown = (event) => {
      if (order.length === 0) {
        return;
      }
      /** @type {Record<string, (i: number) => number>} */
      const moves = {
        ArrowRight: (i) => (i + 1) % order.length, ArrowDown: (i) => (i + 1) % order.length,
        ArrowLeft: (i) => (i - 1 + order.length) % order.length, ArrowUp: (i) => (i - 1 + order.length) % order.length,
        Home: () => 0, End: () => order.length - 1,
      };
      const move = moves[event.key];
      if (move) {
        event.preventDefault();
        index = move(index < 0 ? (event.key === "ArrowLeft" || event.key === "ArrowUp" ? 0 : -1) : index);
        const node = order[index];
        select(node.id());
        container.setAttribute("data-picked", node.id());
        announce.textContent = `${node.data("label")}: node ${index + 1} of ${order.length}; Enter ${name === "ego" ? "moves the focus to it" : "marks it"}.`;
      } else if ((event.key === "Enter" || event.key === " ") && index >= 0) {
        event.preventDefault();
        onTap(order[index].id(), true);
      } else if (event.key === "Escape" && index >= 0) {
        index = -1;
        select("");
        container.removeAttribute("data-picked");
        announce.textContent = "No node picked.";
      }
    };
    return graph;
  }

  /** @param {string} a @param {string} b @param {number} weight @returns {any} the link a - b as a graph element (one id whichever way round) */
  function linkElement(a, b, weight) {
    const id = a < b ? `${a}|${b}` : `${b}|${a}`;
    return { data: { id, source: a, target: b, weight, width: Math.max(0.5, Math.min(6, weight)) } };
  }

  /** @param {number | undefined} contribution @returns {string} */
  function signColour(contribution) {
    if (contribution === undefined) {
      return "#9aa3ad";
    }
    return contribution >= 0 ? "#1a7f37" : "#c62828";
  }

  // ------------------------------------------------------------------ users tab

  /** @param {HTMLElement} view */
  function renderUsersTab(view) {
    const idInput = el("input", { id: "search-id", placeholder: "user id, e.g. u00042", required: true, "aria-label": "user id" });
    const search = el("form", { id: "search-form", class: "inline" }, [
      el("label", {}, ["Open a user", idInput]),
      el("button", { id: "search-open", type: "submit", text: "Open" }),
    ]);
    search.addEventListener("submit", (event) => {
      event.preventDefault();
      void openUser(inputValue(idInput));
    });
    const band = el("select", { id: "list-band" }, [el("option", { value: "", text: "any band" }), ...BANDS.map((b) => el("option", { value: b, text: b }))]);
    const minScore = el("input", { id: "list-min", type: "number", min: "350", max: "950", placeholder: "350" });
    const maxScore = el("input", { id: "list-max", type: "number", min: "350", max: "950", placeholder: "950" });
    const sort = el("select", { id: "list-sort" }, ["SCORE_DESC", "SCORE_ASC", "USER_ID_ASC"].map((s) => el("option", { value: s, text: s.toLowerCase().replace("_", " ") })));
    const list = el("form", { id: "list-form", class: "inline" }, [
      el("label", {}, ["Band", band]), el("label", {}, ["Score from", minScore]), el("label", {}, ["to", maxScore]),
      el("label", {}, ["Sort", sort]), el("button", { id: "list-go", type: "submit", text: "Search" }),
    ]);
    list.addEventListener("submit", (event) => {
      event.preventDefault();
      /** @type {Record<string, unknown>} */
      const filter = {};
      const bandValue = /** @type {HTMLSelectElement} */ (band).value;
      if (bandValue) {
        filter.band = { eq: bandValue };
      }
      /** @type {Record<string, number>} */
      const score = {};
      const low = inputValue(minScore);
      const high = inputValue(maxScore);
      if (low) {
        score.gte = Number(low);
      }
      if (high) {
        score.lte = Number(high);
      }
      if (Object.keys(score).length) {
        filter.score = score;
      }
      void listUsers(filter, /** @type {HTMLSelectElement} */ (sort).value, null);
    });
    view.append(el("div", { class: "card" }, [search, list, el("div", { id: "user-list" })]), el("div", { id: "user-view" }));
  }

  const usersQuery = () => `query Users($filter: UserFilter, $sort: UserSort!, $after: String) {
    users(filter: $filter, sort: $sort, first: ${int(page(20))}, after: $after) {
      totalCount edges { node { userId score band } } pageInfo { hasNextPage endCursor } } }`;

  /**
   * @param {Record<string, unknown>} filter
   * @param {string} sort
   * @param {string | null} after
   */
  async function listUsers(filter, sort, after) {
    await guarded("Listing users", async () => {
      const data = await gql(usersQuery(), { filter, sort, after });
      const connection = data.users;
      const rows = connection.edges.map((/** @type {any} */ e) => e.node);
      const box = byId("user-list");
      const next = connection.pageInfo.hasNextPage
        ? el("button", { id: "list-next", type: "button", text: "Next page", onclick: () => void listUsers(filter, sort, connection.pageInfo.endCursor) })
        : null;
      box.replaceChildren(
        el("p", { class: "muted", id: "list-count", text: `${connection.totalCount} users match; showing ${rows.length}${after ? " (a later page)" : ""}` }),
        sortableTable("users-table", [
          { key: "userId", label: "user", render: (row) => userLink(row.userId) },
          { key: "score", label: "score", num: true, digits: 0 },
          { key: "band", label: "band" },
        ], rows, { onSelect: (row) => void openUser(row.userId), rowKey: "userId" }),
        next || "",
      );
    });
  }

  const userQuery = () => `query User($id: String!) { user(id: $id) {
    userId score band benefits modelVersion computedAt consentNetwork
    components { name value weight points } reasons { code text points }
    history(first: ${int(page(30))}) { totalCount edges { node { score computedAt } } } } }`;

  /**
   * The evidence of one user, page sizes written into the document (the server prices a
   * page size given as a variable at its maximum).
   * @param {number} first @param {number} second @param {number} items
   * @returns {string}
   */
  const evidenceQuery = (first, second, items) => `query Evidence($id: String!) { user(id: $id) {
    userId quarantined flags { analyst reason flaggedAt clearedAt clearedBy clearReason active }
    network { value prior participating
      contributors(first: ${int(items)}) { total bound items { userId contribution direct onward points } }
      influenced(first: ${int(items)}) { items { userId sensitivity pointsAtRisk } } }
    friends(first: ${int(first)}) { totalCount edges { weight node { userId score
      friends(first: ${int(second)}) { totalCount edges { weight node { userId score } } } } } } } }`;

  /**
   * The evidence of `userId`, sampled as EGO_FIRST x EGO_SECOND within the server's page
   * limit; when the server's cost budget is smaller than that request, smaller samples
   * (what is left out is counted on screen either way).
   * @param {string} userId
   * @returns {Promise<any>}
   */
  async function loadEvidence(userId) {
    const samples = [[EGO_FIRST, EGO_SECOND, EVIDENCE_ITEMS], [50, 3, 25], [20, 2, 10], [10, 1, 5]];
    for (let i = 0; ; i += 1) {
      const [first, second, items] = samples[i];
      try {
        return await gql(evidenceQuery(page(first), page(second), page(items)), { id: userId });
      } catch (error) {
        if (!(error instanceof ApiError && error.code === "LIMIT_EXCEEDED") || i === samples.length - 1) {
          throw error;
        }
      }
    }
  }

  /** Bumped by each openUser: an answer for an older one is dropped, not drawn over the newer. */
  let userTicket = 0;

  /**
   * Open a user's card (and, for evidence roles, the ego network and tables).
   * @param {string} userId
   * @param {{ focusGraph?: boolean }} [options] focusGraph: put the keyboard focus on the new ego graph
   */
  async function openUser(userId, options) {
    if (!userId) {
      return;
    }
    if (!document.getElementById("user-view")) {
      showTab("users");
    }
    const ticket = ++userTicket;
    await guarded(`Opening user ${userId}`, async () => {
      const start = performance.now();
      const evidence = can("evidence");
      const [card, network] = await Promise.all([gql(userQuery(), { id: userId }), evidence ? loadEvidence(userId) : null]);
      const answered = performance.now() - start;
      if (ticket !== userTicket) {
        return;
      }
      const view = byId("user-view");
      destroyGraphs();
      const left = el("div", {}, renderScoreCard(card.user));
      const right = el("div", {}, evidence ? renderEvidence(card.user, network.user) : [
        el("div", { class: "card", id: "no-evidence" }, [el("p", { class: "muted", text: "Network evidence (graph, contributors, blast radius, flags) is for analyst and admin keys." })]),
      ]);
      view.replaceChildren(el("div", { class: "grid" }, [left, right]));
      if (evidence) {
        drawEgo(card.user, network.user);
        if (options && options.focusGraph) {
          byId("ego-graph").focus();
        }
      }
      await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
      recordTiming(evidence ? "ego" : "card", start, { nodes: evidence && state.graphs.ego ? state.graphs.ego.nodes().length : 0, answeredMs: answered });
      view.setAttribute("data-user", userId);
    });
  }

  /** @param {any} user @returns {HTMLElement[]} */
  function renderScoreCard(user) {
    const history = user.history.edges.map((/** @type {any} */ e) => e.node).reverse();
    return [
      el("div", { class: "card", id: "score-card" }, [
        el("h2", { text: `User ${user.userId}` }),
        el("div", {}, [el("span", { class: "score", id: "score", text: user.score }), el("span", { class: "band", id: "band", text: user.band.replace("_", " ") })]),
        el("p", { class: "muted", text: `model ${user.modelVersion}, computed ${user.computedAt}; network consent: ${user.consentNetwork ? "yes" : "no"}` }),
        el("h3", { text: "Benefits" }),
        el("div", { class: "chips", id: "benefits" }, user.benefits.length ? user.benefits.map((/** @type {string} */ b) => el("span", { text: b })) : [el("span", { class: "muted", text: "none" })]),
      ]),
      el("div", { class: "card" }, [
        el("h3", { text: "Components" }),
        sortableTable("components-table", [
          { key: "name", label: "component" }, { key: "value", label: "value", num: true, digits: 3 },
          { key: "weight", label: "weight", num: true, digits: 3 }, { key: "points", label: "points", num: true, digits: 1 },
        ], user.components, { sort: "points" }),
      ]),
      el("div", { class: "card" }, [
        el("h3", { text: "Top reasons" }),
        user.reasons.length
          ? el("ol", { id: "reasons" }, user.reasons.map((/** @type {any} */ r) => el("li", {}, [el("strong", { text: r.code }), ` ${r.text} `, el("span", { class: "neg", text: `(-${fmt(r.points, 1)} pts)` })])))
          : el("p", { class: "muted", id: "reasons", text: "No adverse-action reasons." }),
      ]),
      el("div", { class: "card" }, [
        el("h3", { text: `Score history (${history.length} of ${user.history.totalCount} snapshots)` }),
        historyChart(history),
      ]),
    ];
  }

  /** @param {Array<{ score: number, computedAt: string }>} points @returns {Element} a small SVG line chart */
  function historyChart(points) {
    const ns = "http://www.w3.org/2000/svg";
    const width = 360;
    const height = 90;
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("id", "history-chart");
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(height));
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `score history: ${points.map((p) => p.score).join(", ")}`);
    if (points.length === 0) {
      return svg;
    }
    const scores = points.map((p) => p.score);
    const low = Math.min(...scores) - 5;
    const high = Math.max(...scores) + 5;
    const x = (/** @type {number} */ i) => (points.length === 1 ? width / 2 : 20 + (i * (width - 40)) / (points.length - 1));
    const y = (/** @type {number} */ s) => height - 15 - ((s - low) / (high - low)) * (height - 30);
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", scores.map((s, i) => `${x(i)},${y(s)}`).join(" "));
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "#0b57d0");
    line.setAttribute("stroke-width", "2");
    svg.append(line);
    points.forEach((p, i) => {
      const dot = document.createElementNS(ns, "circle");
      dot.setAttribute("cx", String(x(i)));
      dot.setAttribute("cy", String(y(p.score)));
      dot.setAttribute("r", "3");
      dot.setAttribute("fill", "#0b57d0");
      const title = document.createElementNS(ns, "title");
      title.textContent = `${p.score} at ${p.computedAt}`;
      dot.append(title);
      svg.append(dot);
    });
    for (const value of new Set([Math.max(...scores), Math.min(...scores)])) {
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", "0");
      label.setAttribute("y", String(y(value) + 3));
      label.setAttribute("font-size", "9");
      label.textContent = String(value);
      svg.append(label);
    }
    return svg;
  }

  /**
   * @param {any} user the card's user
   * @param {any} evidence the evidence query's user
   * @returns {HTMLElement[]}
   */
  function renderEvidence(user, evidence) {
    const network = evidence.network;
    const friends = evidence.friends;
    const contributors = network.contributors ? network.contributors.items : [];
    const influenced = network.influenced ? network.influenced.items : [];
    const shown = friends ? friends.edges.length : 0;
    const hidden = friends ? friends.totalCount - shown : 0;
    let secondHidden = 0;
    let secondDrawn = 0;
    for (const edge of friends ? friends.edges : []) {
      const theirs = edge.node.friends;
      if (theirs) {
        secondHidden += theirs.totalCount - theirs.edges.length;
        secondDrawn = Math.max(secondDrawn, theirs.edges.length);
      }
    }
    const cards = [
      el("div", { class: "card" }, [
        el("h3", { text: "Ego network (two hops)" }),
        el("p", { class: "legend muted" }, [
          el("span", {}, [el("i", { class: "swatch", style: "background:#1a7f37" }), "raises the score"]),
          el("span", {}, [el("i", { class: "swatch", style: "background:#c62828" }), "lowers it"]),
          el("span", {}, [el("i", { class: "swatch", style: "background:#9aa3ad" }), "not among the top contributors"]),
          "size: share of the network value; links: weight; click a node to move the focus ",
          "(keyboard: Tab into the graph, arrow keys pick a node, Enter moves the focus to it)",
        ]),
        el("div", { id: "ego-graph", class: "graph" }),
        el("p", { id: "ego-more", class: "more", text: `${shown} of ${friends ? friends.totalCount : 0} neighbours drawn${hidden > 0 ? ` (+${hidden} more)` : ""}; ` +
          `up to ${secondDrawn} friends drawn per neighbour${secondHidden > 0 ? ` (+${secondHidden} more links of neighbours)` : ""}.` }),
      ]),
      el("div", { class: "card" }, [
        el("h3", { text: `Contributors (top ${contributors.length}; all of them sum to ${network.contributors ? fmt(network.contributors.total, 4) : "-"} ± ${network.contributors ? fmt(network.contributors.bound, 4) : "-"})` }),
        sortableTable("contributors-table", [
          { key: "userId", label: "user", render: (row) => userLink(row.userId) },
          { key: "contribution", label: "share", num: true, render: (row) => el("span", { class: row.contribution >= 0 ? "pos" : "neg", text: pct(row.contribution) }) },
          { key: "direct", label: "direct", num: true, digits: 4 }, { key: "onward", label: "onward", num: true, digits: 4 },
          { key: "points", label: "points", num: true, digits: 1 },
        ], contributors, { sort: "points", onSelect: (row) => select(row.userId), rowKey: "userId" }),
      ]),
      el("div", { class: "card" }, [
        el("h3", { text: `Blast radius: who depends on ${user.userId} (top ${influenced.length})` }),
        sortableTable("blast-table", [
          { key: "userId", label: "user", render: (row) => userLink(row.userId) },
          { key: "sensitivity", label: "sensitivity", num: true, digits: 4 },
          { key: "pointsAtRisk", label: "points at risk", num: true, digits: 1 },
        ], influenced, { sort: "pointsAtRisk", onSelect: (row) => select(row.userId), rowKey: "userId" }),
      ]),
    ];
    if (can("flag")) {
      cards.push(renderFlags(user.userId, evidence));
    }
    cards.push(el("div", { class: "card" }, [
      el("button", { id: "user-cluster", type: "button", text: "Suspicious cluster of this user...", onclick: () => void openClusterOf(user.userId) }), " ",
      el("button", { id: "paths-from", type: "button", text: "Influence paths from this user...", onclick: () => {
        showTab("paths");
        /** @type {HTMLInputElement} */ (byId("path-source")).value = user.userId;
        byId("path-target").focus();
      } }),
    ]));
    return cards;
  }

  /** @param {any} user the card's user @param {any} evidence */
  function drawEgo(user, evidence) {
    const contributions = new Map();
    const items = evidence.network.contributors ? evidence.network.contributors.items : [];
    let largest = 0;
    for (const item of items) {
      contributions.set(item.userId, item.contribution);
      largest = Math.max(largest, Math.abs(item.contribution));
    }
    /** @type {Map<string, any>} */
    const nodes = new Map();
    /** @type {Map<string, any>} */
    const edges = new Map();
    /** @param {string} id @param {number} score @param {number} level */
    const addNode = (id, score, level) => {
      const known = nodes.get(id);
      if (known) {
        known.data.level = Math.max(known.data.level, level);
        return;
      }
      const share = contributions.get(id);
      const size = level === 3 ? 34 : share === undefined || largest === 0 ? 10 : 10 + 26 * Math.abs(share) / largest;
      nodes.set(id, { data: { id, label: `${id} (${score})`, level, color: level === 3 ? "#0b57d0" : signColour(share), size }, classes: level === 3 ? "focus" : "" });
    };
    /** @param {string} a @param {string} b @param {number} weight */
    const addEdge = (a, b, weight) => {
      const link = linkElement(a, b, weight);
      if (!edges.has(link.data.id)) {
        edges.set(link.data.id, link);
      }
    };
    addNode(user.userId, user.score, 3);
    for (const edge of evidence.friends ? evidence.friends.edges : []) {
      addNode(edge.node.userId, edge.node.score, 2);
    }
    for (const edge of evidence.friends ? evidence.friends.edges : []) {
      addEdge(user.userId, edge.node.userId, edge.weight);
      for (const second of edge.node.friends ? edge.node.friends.edges : []) {
        if (second.node.userId === user.userId) {
          continue;
        }
        addNode(second.node.userId, second.node.score, 1);
        addEdge(edge.node.userId, second.node.userId, second.weight);
      }
    }
    drawGraph("ego", byId("ego-graph"), [...nodes.values(), ...edges.values()], (id, byKeyboard) => void openUser(id, { focusGraph: byKeyboard }),
      { label: `ego network of ${user.userId}` });
  }

  /** @param {string} userId @param {any} evidence @returns {HTMLElement} */
  function renderFlags(userId, evidence) {
    const flags = evidence.flags || [];
    const reopen = () => openUser(userId);
    return el("div", { class: "card", id: "flags" }, [
      el("h3", { text: `Quarantine: ${evidence.quarantined ? "flagged" : "not flagged"}` }),
      flags.length
        ? el("ul", {}, flags.map((/** @type {any} */ f) => el("li", { text: `${f.active ? "ACTIVE" : "cleared"}: ${f.reason} (by ${f.analyst}, ${f.flaggedAt}${f.clearedAt ? `; cleared ${f.clearedAt} by ${f.clearedBy}: ${f.clearReason}` : ""})` })))
        : el("p", { class: "muted", text: "No flags on record." }),
      evidence.quarantined
        ? el("button", { id: "unflag-user", type: "button", text: "Unflag...", onclick: () => void unflag(userId, reopen, () => document.getElementById("flag-user")) })
        : el("button", { id: "flag-user", type: "button", class: "danger", text: "Flag...", onclick: () => void flag([userId], reopen, () => document.getElementById("unflag-user")) }),
    ]);
  }

  // ------------------------------------------------------------------ flag and unflag

  /** flagUsers takes at most this many users (the schema's limit, not a page size). */
  const FLAG_LIMIT = 100;

  /**
   * Ask for a reason in a modal dialog; the reason, or null when cancelled (Cancel or Escape).
   * Tab and Shift+Tab stay inside the dialog; when it is cancelled the keyboard focus goes
   * back to the control that opened it. Ctrl+Enter in the reason confirms.
   * @param {string} title
   * @param {string} text
   * @param {string} confirmLabel
   * @returns {Promise<string | null>}
   */
  function askReason(title, text, confirmLabel) {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    return new Promise((resolve) => {
      const reason = /** @type {HTMLTextAreaElement} */ (el("textarea", { id: "confirm-reason", required: true }));
      const ok = /** @type {HTMLButtonElement} */ (el("button", { id: "confirm-ok", type: "submit", class: "danger", text: confirmLabel, disabled: true }));
      const cancel = /** @type {HTMLButtonElement} */ (el("button", { id: "confirm-cancel", type: "button", text: "Cancel" }));
      const form = /** @type {HTMLFormElement} */ (el("form", { method: "dialog" }, [
        el("h3", { id: "confirm-title", text: title }), el("p", { text }),
        el("label", { for: "confirm-reason", text: "Reason (recorded in the audit log)" }), reason,
        el("p", {}, [ok, " ", cancel]),
      ]));
      const dialog = /** @type {HTMLDialogElement} */ (el("dialog", { id: "confirm", "aria-labelledby": "confirm-title" }, [form]));
      reason.addEventListener("input", () => {
        ok.disabled = reason.value.trim() === "";
      });
      /** @param {string | null} value */
      const finish = (value) => {
        dialog.close();
        dialog.remove();
        if (value === null && opener && opener.isConnected) {
          opener.focus();
        }
        resolve(value);
      };
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        if (reason.value.trim()) {
          finish(reason.value.trim());
        }
      });
      cancel.addEventListener("click", () => finish(null));
      dialog.addEventListener("cancel", (event) => {
        event.preventDefault();
        finish(null);
      });
      dialog.addEventListener("keydown", (event) => {
        if (event.key === "Enter" && event.ctrlKey && event.target === reason) {
          event.preventDefault();
          form.requestSubmit();
        } else if (event.key === "Tab") {
          const stops = [reason, ok, cancel].filter((control) => !control.disabled);
          const at = stops.indexOf(/** @type {any} */ (document.activeElement));
          const next = event.shiftKey ? (at <= 0 ? stops.length - 1 : at - 1) : (at === stops.length - 1 ? 0 : at + 1);
          event.preventDefault();
          stops[next].focus();
        }
      });
      document.body.append(dialog);
      dialog.showModal();
      reason.focus();
    });
  }

  /** @returns {string} what the status line says now */
  function statusText() {
    const status = document.getElementById("status");
    return status ? status.textContent || "" : "";
  }

  /**
   * Put the keyboard focus on `target()` (after a view was drawn again), or on the status line.
   * @param {() => HTMLElement | null} target
   */
  function refocus(target) {
    const control = target();
    if (control && !(/** @type {HTMLButtonElement} */ (control).disabled)) {
      control.focus();
    } else {
      const status = document.getElementById("status");
      if (status) {
        status.focus();
      }
    }
  }

  /**
   * Flag `users` (at most FLAG_LIMIT) with a reason asked in a confirmation, then redraw and refocus.
   * @param {string[]} users
   * @param {() => Promise<void>} after draws the view again
   * @param {() => HTMLElement | null} focusNext the control to focus once it is drawn
   */
  async function flag(users, after, focusNext) {
    const reason = await askReason(
      users.length === 1 ? `Flag ${users[0]}?` : `Flag all ${users.length} members?`,
      `Quarantine takes ${users.length === 1 ? "this account" : "these accounts"} out of everyone's network score; it can be undone (unflag).`,
      "Confirm flag",
    );
    if (reason === null) {
      return;
    }
    await guarded(`Flagging ${users.length === 1 ? users[0] : `${users.length} users`}`, async () => {
      const data = await gql("mutation Flag($users: [String!]!, $reason: String!) { flagUsers(users: $users, reason: $reason) { changes { userId before after } } }", { users, reason });
      await after();
      if (!statusText()) {
        setStatus(`Flagged ${users.length === 1 ? users[0] : `${users.length} users`}; ${data.flagUsers.changes.length} scores moved.`, "note");
      }
      refocus(focusNext);
    });
  }

  /**
   * Unflag `user` with a reason asked in a confirmation, then redraw and refocus.
   * @param {string} user
   * @param {() => Promise<void>} after draws the view again
   * @param {() => HTMLElement | null} focusNext the control to focus once it is drawn
   */
  async function unflag(user, after, focusNext) {
    const reason = await askReason(`Unflag ${user}?`, "The quarantine is cleared and the scores are recomputed.", "Confirm unflag");
    if (reason === null) {
      return;
    }
    await guarded(`Unflagging ${user}`, async () => {
      const data = await gql("mutation Unflag($user: String!, $reason: String!) { unflagUser(user: $user, reason: $reason) { changes { userId } } }", { user, reason });
      await after();
      if (!statusText()) {
        setStatus(`Unflagged ${user}; ${data.unflagUser.changes.length} scores moved.`, "note");
      }
      refocus(focusNext);
    });
  }

  // ------------------------------------------------------------------ clusters tab

  const clustersQuery = (/** @type {number} */ first) => `query Clusters { suspiciousClusters(first: ${int(first)}) {
    rank userIds size density relativeDensity internalLinks attackLinks outsideNeighbours insideShare thinFraction meanBase suspicion } }`;

  /** @param {HTMLElement} view @param {any[]} [rows] clusters already read (else they are asked for) */
  function renderClustersTab(view, rows) {
    view.append(
      el("div", { class: "card" }, [
        el("h2", { text: "Suspicious clusters, most suspicious first" }),
        el("button", { id: "clusters-load", type: "button", text: "Find clusters", onclick: () => void loadClusters() }),
        el("div", { id: "cluster-list" }),
      ]),
      el("div", { id: "cluster-view" }),
    );
    if (rows) {
      listClusters(rows);
    } else {
      void loadClusters();
    }
  }

  async function loadClusters() {
    await guarded("Loading the suspicious clusters", async () => {
      const data = await gql(clustersQuery(page(10)));
      listClusters(data.suspiciousClusters);
    });
  }

  /** @param {any[]} rows the ranked clusters */
  function listClusters(rows) {
    byId("cluster-list").replaceChildren(
      rows.length === 0 ? el("p", { class: "muted", text: "No suspicious cluster in the current graph." }) : sortableTable("clusters-table", [
        { key: "rank", label: "rank", num: true, digits: 0, render: (row) => el("button", { type: "button", class: "link", "data-cluster": row.rank, text: `#${row.rank}`, onclick: (/** @type {Event} */ e) => { e.stopPropagation(); void openCluster(row); } }) },
        { key: "size", label: "members", num: true, digits: 0 }, { key: "suspicion", label: "suspicion", num: true },
        { key: "relativeDensity", label: "rel. density", num: true, digits: 1 }, { key: "insideShare", label: "inside share", num: true },
        { key: "attackLinks", label: "outside links", num: true, digits: 0 }, { key: "thinFraction", label: "thin files", num: true },
        { key: "meanBase", label: "mean base", num: true },
      ], rows, { sort: "rank", descending: false, onSelect: (row) => void openCluster(row) }),
    );
  }

  /**
   * From a user's card: the ranked suspicious cluster the user is a member of, opened in the Clusters tab.
   * @param {string} userId
   */
  async function openClusterOf(userId) {
    await guarded(`Finding the suspicious cluster of ${userId}`, async () => {
      const data = await gql(clustersQuery(page(10)));
      const rows = data.suspiciousClusters;
      const found = rows.find((/** @type {any} */ row) => row.userIds.includes(userId));
      if (!found) {
        setStatus(`${userId} is in none of the ${rows.length} most suspicious clusters.`, "note");
        return;
      }
      showTab("clusters", rows);
      await openCluster(found);
    });
  }

  /**
   * The members' scores, flags and links, several users per request (aliases, within the
   * server's maxAliases); when a request is over the server's cost budget, fewer per request.
   * @param {string[]} ids
   * @returns {Promise<any[]>} the users, in the order of `ids`
   */
  async function readMembers(ids) {
    let perRequest = Math.max(1, Math.min(15, (state.viewer ? state.viewer.maxAliases : 15) - 1));
    const request = (/** @type {string[]} */ chunk) => {
      const variables = chunk.map((_, i) => `$u${i}: String!`).join(", ");
      const fields = chunk.map((_, i) => `m${i}: user(id: $u${i}) { userId score quarantined friends(first: ${int(page(100))}) { totalCount edges { weight node { userId } } } }`).join("\n");
      return gql(`query Members(${variables}) { ${fields} }`, Object.fromEntries(chunk.map((id, i) => [`u${i}`, id])));
    };
    for (;;) {
      /** @type {string[][]} */
      const chunks = [];
      for (let start = 0; start < ids.length; start += perRequest) {
        chunks.push(ids.slice(start, start + perRequest));
      }
      try {
        const answers = await Promise.all(chunks.map(request));
        return answers.flatMap((data, k) => chunks[k].map((_, i) => data[`m${i}`]));
      } catch (error) {
        if (!(error instanceof ApiError && error.code === "LIMIT_EXCEEDED") || perRequest === 1) {
          throw error;
        }
        perRequest = Math.max(1, Math.floor(perRequest / 2));
      }
    }
  }

  /** @param {any} cluster */
  async function openCluster(cluster) {
    await guarded(`Opening cluster #${cluster.rank}`, async () => {
      const members = /** @type {string[]} */ (cluster.userIds);
      const drawnMembers = members.slice(0, page(100));
      const users = await readMembers(drawnMembers);
      const memberSet = new Set(members);
      let outside = 0;
      let unseen = 0;
      /** @type {any[]} */
      const edges = [];
      const seen = new Set();
      for (const user of users) {
        const friends = user.friends || { totalCount: 0, edges: [] };
        unseen += friends.totalCount - friends.edges.length;
        for (const edge of friends.edges) {
          const other = edge.node.userId;
          if (!memberSet.has(other)) {
            outside += 1;
            continue;
          }
          const link = linkElement(user.userId, other, edge.weight);
          if (!seen.has(link.data.id)) {
            seen.add(link.data.id);
            edges.push(link);
          }
        }
      }
      const nodes = users.map((u) => ({ data: { id: u.userId, label: `${u.userId} (${u.score})`, level: 1, size: 18, color: u.quarantined ? "#c62828" : "#f2a900" } }));
      const evidence = [
        ["rank", `#${cluster.rank}`], ["members", cluster.size], ["suspicion", fmt(cluster.suspicion)],
        ["density", fmt(cluster.density)], ["relative density", `${fmt(cluster.relativeDensity, 1)}x the graph`],
        ["links inside", cluster.internalLinks], ["links to outsiders", cluster.attackLinks],
        ["distinct outsiders linked", cluster.outsideNeighbours], ["link weight inside", pct(cluster.insideShare)],
        ["members with thin files", pct(cluster.thinFraction)], ["mean base creditworthiness", fmt(cluster.meanBase)],
      ];
      const quarantined = new Set(users.filter((u) => u.quarantined).map((u) => u.userId));
      const reopen = () => openCluster(cluster);
      const unflagged = members.filter((m) => !quarantined.has(m));
      const flagAll = unflagged.length > 0 && members.length === drawnMembers.length && unflagged.length <= FLAG_LIMIT;
      byId("cluster-view").replaceChildren(el("div", { class: "grid", id: "cluster-detail", "data-rank": cluster.rank }, [
        el("div", {}, [
          el("div", { class: "card" }, [
            el("h3", { id: "cluster-title", tabindex: "-1", text: `Cluster #${cluster.rank}: evidence` }),
            el("table", { id: "cluster-evidence" }, [el("tbody", {}, evidence.map(([k, v]) => el("tr", {}, [el("th", { text: String(k) }), el("td", { class: "num", text: String(v) })])))]),
          ]),
          el("div", { class: "card" }, [
            el("h3", { text: "Members" }),
            sortableTable("members-table", [
              { key: "userId", label: "user", render: (row) => userLink(row.userId) },
              { key: "score", label: "score", num: true, digits: 0 },
              { key: "quarantined", label: "flagged", render: (row) => row.quarantined
                ? el("button", { type: "button", class: "link", "data-unflag": row.userId, text: "flagged: unflag...", onclick: (/** @type {Event} */ e) => {
                  e.stopPropagation();
                  void unflag(row.userId, reopen, () => document.querySelector(`#members-table [data-flag="${CSS.escape(row.userId)}"]`));
                } })
                : el("button", { type: "button", class: "link", "data-flag": row.userId, text: "no: flag...", onclick: (/** @type {Event} */ e) => {
                  e.stopPropagation();
                  void flag([row.userId], reopen, () => document.querySelector(`#members-table [data-unflag="${CSS.escape(row.userId)}"]`));
                } }) },
            ], users, { sort: "score", onSelect: (row) => select(row.userId), rowKey: "userId" }),
            members.length > drawnMembers.length ? el("p", { class: "more", id: "members-more", text: `${drawnMembers.length} of ${members.length} members listed and drawn (+${members.length - drawnMembers.length} more).` }) : "",
            el("p", {}, [
              el("button", { id: "cluster-preview", type: "button", text: "Preview quarantine", onclick: () => void previewQuarantine(members) }), " ",
              el("button", { id: "cluster-flag", type: "button", class: "danger", text: unflagged.length === members.length ? `Flag all ${members.length}...` : `Flag the ${unflagged.length} not flagged...`, disabled: !flagAll,
                onclick: () => void flag(unflagged, reopen, () => document.getElementById("cluster-title")) }),
            ]),
            members.length > drawnMembers.length || unflagged.length > FLAG_LIMIT
              ? el("p", { class: "muted", text: `This cluster is flagged member by member: flagUsers takes at most ${FLAG_LIMIT} users, and ${drawnMembers.length} of its ${members.length} members are listed.` })
              : "",
          ]),
        ]),
        el("div", {}, [
          el("div", { class: "card" }, [
            el("h3", { text: "The cluster as a subgraph" }),
            el("div", { id: "cluster-graph", class: "graph" }),
            el("p", { class: "more", id: "cluster-more", text: `${edges.length} links inside drawn; ${outside} links to outsiders not drawn${unseen > 0 ? ` (+${unseen} more links beyond the pages read)` : ""}.` }),
          ]),
          el("div", { id: "preview" }),
        ]),
      ]));
      drawGraph("cluster", byId("cluster-graph"), [...nodes, ...edges], (id) => select(id), { label: `cluster #${cluster.rank}`, layout: "circle" });
      byId("cluster-title").focus();
    });
  }

  /** @param {string[]} members */
  async function previewQuarantine(members) {
    await guarded(`Previewing the quarantine of ${members.length} users`, async () => {
      const data = await gql("query WhatIf($users: [String!]!) { whatIf(removeUsers: $users) { userId before after } }", { users: members });
      const changes = data.whatIf.map((/** @type {any} */ c) => ({ ...c, points: c.after - c.before }));
      const memberSet = new Set(members);
      const inside = changes.filter((/** @type {any} */ c) => memberSet.has(c.userId));
      // the outsiders whose scores move most, either way (a member that held an outsider down lifts it when quarantined)
      const outside = changes.filter((/** @type {any} */ c) => !memberSet.has(c.userId)).sort((/** @type {any} */ a, /** @type {any} */ b) => Math.abs(b.points) - Math.abs(a.points) || a.points - b.points);
      const shownOutside = outside.slice(0, 25);
      const sum = (/** @type {any[]} */ rows) => rows.reduce((total, row) => total + row.points, 0);
      const columns = /** @type {Column[]} */ ([
        { key: "userId", label: "user", render: (row) => userLink(row.userId) },
        { key: "before", label: "now", num: true, digits: 0 }, { key: "after", label: "if quarantined", num: true, digits: 0 },
        { key: "points", label: "points", num: true, digits: 0, render: (row) => el("span", { class: row.points < 0 ? "neg" : "pos", text: String(row.points) }) },
      ]);
      byId("preview").replaceChildren(el("div", { class: "card", id: "preview-card" }, [
        el("h3", { id: "preview-title", tabindex: "-1", text: "What-if: quarantine the cluster (nothing is stored)" }),
        el("p", { id: "preview-summary", text: `Members: ${sum(inside)} points over ${inside.length} of ${members.length} members whose score moves. Outsiders: ${sum(outside)} points over ${outside.length} users.` }),
        el("h3", { text: "Per member" }),
        sortableTable("preview-members", columns, inside, { sort: "points", descending: false, onSelect: (row) => select(row.userId), rowKey: "userId" }),
        el("h3", { text: "Per outsider (largest moves first)" }),
        sortableTable("preview-outsiders", columns, shownOutside, { sort: "points", descending: false, rowKey: "userId" }),
        outside.length > shownOutside.length ? el("p", { class: "more", id: "preview-more", text: `+${outside.length - shownOutside.length} more outsiders move (by less).` }) : "",
      ]));
      byId("preview-title").focus();
    });
  }

  // ------------------------------------------------------------------ paths tab

  const pathsQuery = (/** @type {number} */ k, /** @type {number} */ hops) => `query Paths($source: String!, $target: String!) {
    influencePaths(source: $source, target: $target, k: ${int(k)}, maxHops: ${int(hops)}) { userIds transitions probability share influence } }`;

  /** @param {HTMLElement} view */
  function renderPathsTab(view) {
    const source = el("input", { id: "path-source", required: true, placeholder: "source user id" });
    const target = el("input", { id: "path-target", required: true, placeholder: "target user id" });
    const k = el("input", { id: "path-k", type: "number", min: "1", max: "20", value: "5" });
    const hops = el("input", { id: "path-hops", type: "number", min: "1", max: "10", value: "6" });
    const form = el("form", { id: "paths-form", class: "inline" }, [
      el("label", {}, ["From (whose value)", source]), el("label", {}, ["To (whose base)", target]),
      el("label", {}, ["Paths", k]), el("label", {}, ["Max hops", hops]), el("button", { id: "paths-go", type: "submit", text: "Find paths" }),
    ]);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void findPaths(inputValue(source), inputValue(target), Number(inputValue(k)), Number(inputValue(hops)));
    });
    view.append(el("div", { class: "card" }, [el("h2", { text: "Influence paths: how one user's base reaches another's network value" }), form]), el("div", { id: "paths-view" }));
  }

  /** @param {string} source @param {string} target @param {number} k @param {number} hops */
  async function findPaths(source, target, k, hops) {
    await guarded(`Finding paths from ${source} to ${target}`, async () => {
      const data = await gql(pathsQuery(page(k), hops), { source, target });
      const paths = data.influencePaths;
      const box = byId("paths-view");
      if (paths.length === 0) {
        box.replaceChildren(el("div", { class: "card" }, [el("p", { id: "paths-none", class: "muted", text: `No friend chain from ${source} to ${target} within ${hops} hops.` })]));
        return;
      }
      /** @type {Map<string, any>} */
      const nodes = new Map();
      /** @type {Map<string, any>} */
      const edges = new Map();
      for (const path of paths) {
        path.userIds.forEach((/** @type {string} */ id, /** @type {number} */ i) => {
          const level = id === source ? 3 : id === target ? 1 : 2;
          if (!nodes.has(id)) {
            nodes.set(id, { data: { id, label: id, level, size: level === 2 ? 14 : 26, color: id === source ? "#0b57d0" : id === target ? "#6a1b9a" : "#9aa3ad" } });
          }
          if (i > 0) {
            const a = path.userIds[i - 1];
            const edgeId = `${a}>${id}`;
            if (!edges.has(edgeId)) {
              edges.set(edgeId, { data: { id: edgeId, source: a, target: id, width: 1.5, hop: "" } });
            }
          }
        });
      }
      const hopLabel = el("p", { id: "hop-label", "aria-live": "polite" });
      const list = el("ol", { class: "path-list", id: "paths-list" }, paths.map((/** @type {any} */ path, /** @type {number} */ i) => el("li", {}, [
        el("button", { type: "button", "data-path": i, text: `share ${pct(path.share)}, probability ${path.probability.toExponential(2)}: ${path.userIds.join(" → ")}`, onclick: () => showPath(i, path.userIds.length - 1) }),
      ])));
      const steps = el("p", {}, [
        el("button", { id: "hop-prev", type: "button", text: "◀ previous hop", onclick: () => step(-1) }), " ",
        el("button", { id: "hop-next", type: "button", text: "next hop ▶", onclick: () => step(1) }),
      ]);
      box.replaceChildren(el("div", { class: "grid" }, [
        el("div", { class: "card" }, [el("h3", { id: "paths-title", tabindex: "-1", text: `${paths.length} strongest chains` }), list, steps, hopLabel]),
        el("div", { class: "card" }, [el("div", { id: "paths-graph", class: "graph" })]),
      ]));
      const graph = drawGraph("paths", byId("paths-graph"), [...nodes.values(), ...edges.values()], (id) => select(id), { label: `influence paths from ${source} to ${target}` });
      let current = 0;
      let upTo = 0;
      /** @param {number} index @param {number} hop highlight path `index` up to its hop `hop` */
      function showPath(index, hop) {
        current = index;
        const path = paths[index];
        upTo = Math.max(1, Math.min(hop, path.userIds.length - 1));
        graph.elements().removeClass("path").addClass("dim");
        graph.edges().data("hop", "");
        for (let i = 0; i <= upTo; i += 1) {
          graph.getElementById(path.userIds[i]).removeClass("dim").addClass("path");
          if (i > 0) {
            const edge = graph.getElementById(`${path.userIds[i - 1]}>${path.userIds[i]}`);
            edge.removeClass("dim").addClass("path").data("hop", `${i}: ${pct(path.transitions[i - 1])}`);
          }
        }
        for (const button of list.querySelectorAll("button")) {
          button.setAttribute("aria-pressed", String(button.getAttribute("data-path") === String(index)));
        }
        hopLabel.textContent = `Path ${index + 1} (share ${pct(path.share)}), hop ${upTo} of ${path.userIds.length - 1}: ` +
          `${path.userIds[upTo - 1]} → ${path.userIds[upTo]}, walk probability ${pct(path.transitions[upTo - 1])}`;
      }
      /** @param {number} delta */
      function step(delta) {
        showPath(current, upTo + delta);
      }
      showPath(0, 1);
      byId("paths-title").focus();
    });
  }

  // ------------------------------------------------------------------ audit tab

  const auditQuery = (/** @type {number} */ first) => `query Audit($after: String, $actor: String, $subject: String) {
    auditLog(first: ${int(first)}, after: $after, actor: $actor, subject: $subject) {
      entries { id at actor role action subject detail } endCursor hasNextPage } }`;

  /** @param {HTMLElement} view */
  function renderAuditTab(view) {
    const actor = el("input", { id: "audit-actor", placeholder: "key name" });
    const subject = el("input", { id: "audit-subject", placeholder: "user id" });
    const form = el("form", { id: "audit-form", class: "inline" }, [
      el("label", {}, ["Actor", actor]), el("label", {}, ["Subject", subject]), el("button", { id: "audit-go", type: "submit", text: "Filter" }),
    ]);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void loadAudit(inputValue(actor) || null, inputValue(subject) || null, null);
    });
    view.append(el("div", { class: "card" }, [el("h2", { text: "Audit log (oldest first)" }), form, el("div", { id: "audit-list" })]));
    void loadAudit(null, null, null);
  }

  /** @param {string | null} actor @param {string | null} subject @param {string | null} after */
  async function loadAudit(actor, subject, after) {
    await guarded("Loading the audit log", async () => {
      const data = await gql(auditQuery(page(50)), { after, actor, subject });
      const log = data.auditLog;
      byId("audit-list").replaceChildren(
        el("p", { class: "muted", id: "audit-count", text: `${log.entries.length} entries${log.hasNextPage ? " (more follow)" : ""}` }),
        sortableTable("audit-table", [
          { key: "id", label: "#", num: true, digits: 0 }, { key: "at", label: "at" }, { key: "actor", label: "actor" },
          { key: "role", label: "role" }, { key: "action", label: "action" }, { key: "subject", label: "subject" }, { key: "detail", label: "detail" },
        ], log.entries, { sort: "id", descending: false }),
        log.hasNextPage ? el("button", { id: "audit-next", type: "button", text: "Next page", onclick: () => void loadAudit(actor, subject, log.endCursor) }) : "",
      );
    });
  }

  // ------------------------------------------------------------------ start

  const saved = window.sessionStorage.getItem(KEY_STORAGE);
  if (saved) {
    void signIn(saved, null);
  } else {
    renderSignIn();
  }
})();
