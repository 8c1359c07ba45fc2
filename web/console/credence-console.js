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

  /** @typedef {{ name: string, role: string, permissions: string[], maxFirst: number, maxCost: number, maxAliases: number }} Viewer */
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

  /** @param {string} message */
  function showError(message) {
    const status = document.getElementById("status");
    if (status) {
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

  /**
   * Run one GraphQL operation with the signed-in key.
   * @param {string} query
   * @param {Record<string, unknown>} [variables]
   * @param {string} [key] the key to use (the signed-in one by default)
   * @returns {Promise<any>} the `data` (errors of nullable evidence fields are shown, the rest kept)
   */
  async function gql(query, variables, key) {
    const secret = key === undefined ? state.key : key;
    /** @type {any} */
    let body;
    try {
      const response = await fetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${secret}` },
        body: JSON.stringify({ query, variables: variables || {} }),
      });
      body = await response.json();
    } catch (error) {
      throw new ApiError(`the API did not answer: ${error}`, "NETWORK");
    }
    const errors = Array.isArray(body.errors) ? body.errors : [];
    if (errors.length > 0) {
      const first = errors[0];
      const code = (first.extensions && first.extensions.code) || "ERROR";
      if (!body.data) {
        throw new ApiError(`${code}: ${first.message}`, code);
      }
      showError(`${code}: ${first.message}`);
    }
    return body.data;
  }

  /**
   * Run `task`, showing its error in the status line instead of throwing.
   * @param {() => Promise<void>} task
   * @returns {Promise<void>}
   */
  async function guarded(task) {
    showError("");
    try {
      await task();
    } catch (error) {
      showError(error instanceof Error ? error.message : String(error));
      if (error instanceof ApiError && error.code === "UNAUTHENTICATED") {
        signOut("The key is no longer accepted: sign in again.");
      }
    }
  }

  // ------------------------------------------------------------------ sign-in

  const VIEWER = "{ viewer { name role permissions maxFirst maxCost maxAliases } }";

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
      void signIn(/** @type {HTMLInputElement} */ (input).value.trim(), error);
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
      if (error) {
        error.textContent = `Sign-in failed: ${failure instanceof Error ? failure.message : failure}`;
      } else {
        renderSignIn(`Sign-in failed: ${failure instanceof Error ? failure.message : failure}`);
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

  /** @type {Array<{ id: string, label: string, permission: string, render: (view: HTMLElement) => void }>} */
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
    const nav = el("nav", { role: "tablist" }, tabs.map((tab) => el("button", {
      id: `tab-${tab.id}`, type: "button", role: "tab", "aria-selected": "false", text: tab.label,
      onclick: () => showTab(tab.id),
    })));
    root.replaceChildren(nav, el("p", { id: "status", class: "error", role: "alert" }), el("section", { id: "view" }));
    showTab("users");
  }

  /** @param {string} id */
  function showTab(id) {
    const tab = TABS.find((t) => t.id === id && can(t.permission));
    if (!tab) {
      return;
    }
    for (const button of document.querySelectorAll("nav button")) {
      button.setAttribute("aria-selected", String(button.id === `tab-${id}`));
    }
    destroyGraphs();
    showError("");
    const view = byId("view");
    view.replaceChildren();
    tab.render(view);
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
          const select = opts.onSelect;
          tr.addEventListener("click", () => select(row));
          tr.addEventListener("keydown", (event) => {
            if (event.key === "Enter" || event.key === " ") {
              event.preventDefault();
              select(row);
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
   * @param {string} name
   * @param {HTMLElement} container
   * @param {any[]} elements
   * @param {(id: string) => void} onTap
   * @param {string} [layout] a cytoscape layout name (concentric by default)
   * @returns {Graph}
   */
  function drawGraph(name, container, elements, onTap, layout) {
    const previous = state.graphs[name];
    if (previous) {
      previous.destroy();
    }
    const graph = window.cytoscape({
      container,
      elements,
      style: /** @type {any} */ (GRAPH_STYLE),
      layout: /** @type {any} */ (layout
        ? { name: layout, animate: false, padding: 30 }
        : { name: "concentric", concentric: (/** @type {any} */ node) => node.data("level"), levelWidth: () => 1, animate: false, minNodeSpacing: 4 }),
      minZoom: 0.2,
      maxZoom: 2,
      wheelSensitivity: 0.3,
    });
    graph.on("tap", "node", (event) => onTap(event.target.id()));
    state.graphs[name] = graph;
    return graph;
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
      void openUser(/** @type {HTMLInputElement} */ (idInput).value.trim());
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
      const low = /** @type {HTMLInputElement} */ (minScore).value;
      const high = /** @type {HTMLInputElement} */ (maxScore).value;
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
    await guarded(async () => {
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

  const USER = `query User($id: String!) { user(id: $id) {
    userId score band benefits modelVersion computedAt consentNetwork
    components { name value weight points } reasons { code text points }
    history(first: 30) { totalCount edges { node { score computedAt } } } } }`;

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

  /** @param {string} userId */
  async function openUser(userId) {
    if (!userId) {
      return;
    }
    if (!document.getElementById("user-view")) {
      showTab("users");
    }
    await guarded(async () => {
      const start = performance.now();
      const evidence = can("evidence");
      const [card, network] = await Promise.all([
        gql(USER, { id: userId }),
        evidence ? gql(evidenceQuery(page(EGO_FIRST), page(EGO_SECOND), page(EVIDENCE_ITEMS)), { id: userId }) : Promise.resolve(null),
      ]);
      const view = byId("user-view");
      destroyGraphs();
      const left = el("div", {}, renderScoreCard(card.user));
      const right = el("div", {}, evidence ? renderEvidence(card.user, network.user) : [
        el("div", { class: "card", id: "no-evidence" }, [el("p", { class: "muted", text: "Network evidence (graph, contributors, blast radius, flags) is for analyst and admin keys." })]),
      ]);
      view.replaceChildren(el("div", { class: "grid" }, [left, right]));
      if (evidence) {
        drawEgo(card.user, network.user);
      }
      await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
      recordTiming(evidence ? "ego" : "card", start, { nodes: evidence && state.graphs.ego ? state.graphs.ego.nodes().length : 0 });
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
    for (const [text, value] of [[String(Math.max(...scores)), Math.max(...scores)], [String(Math.min(...scores)), Math.min(...scores)]]) {
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", "0");
      label.setAttribute("y", String(y(Number(value)) + 3));
      label.setAttribute("font-size", "9");
      label.textContent = String(text);
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
    for (const edge of friends ? friends.edges : []) {
      const theirs = edge.node.friends;
      if (theirs) {
        secondHidden += theirs.totalCount - theirs.edges.length;
      }
    }
    const cards = [
      el("div", { class: "card" }, [
        el("h3", { text: "Ego network (two hops)" }),
        el("p", { class: "legend muted" }, [
          el("span", {}, [el("i", { class: "swatch", style: "background:#1a7f37" }), "raises the score"]),
          el("span", {}, [el("i", { class: "swatch", style: "background:#c62828" }), "lowers it"]),
          el("span", {}, [el("i", { class: "swatch", style: "background:#9aa3ad" }), "not among the top contributors"]),
          "size: share of the network value; links: weight; click a node to move the focus",
        ]),
        el("div", { id: "ego-graph", class: "graph", "aria-label": `ego network of ${user.userId}` }),
        el("p", { id: "ego-more", class: "more", text: `${shown} of ${friends ? friends.totalCount : 0} neighbours drawn${hidden > 0 ? ` (+${hidden} more)` : ""}; ` +
          `up to ${page(EGO_SECOND)} friends drawn per neighbour${secondHidden > 0 ? ` (+${secondHidden} more links of neighbours)` : ""}.` }),
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
      const id = a < b ? `${a}|${b}` : `${b}|${a}`;
      if (!edges.has(id)) {
        edges.set(id, { data: { id, source: a, target: b, weight, width: Math.max(0.5, Math.min(6, weight)) } });
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
    drawGraph("ego", byId("ego-graph"), [...nodes.values(), ...edges.values()], (id) => void openUser(id));
  }

  /** @param {string} userId @param {any} evidence @returns {HTMLElement} */
  function renderFlags(userId, evidence) {
    const flags = evidence.flags || [];
    return el("div", { class: "card", id: "flags" }, [
      el("h3", { text: `Quarantine: ${evidence.quarantined ? "flagged" : "not flagged"}` }),
      flags.length
        ? el("ul", {}, flags.map((/** @type {any} */ f) => el("li", { text: `${f.active ? "ACTIVE" : "cleared"}: ${f.reason} (by ${f.analyst}, ${f.flaggedAt}${f.clearedAt ? `; cleared ${f.clearedAt} by ${f.clearedBy}: ${f.clearReason}` : ""})` })))
        : el("p", { class: "muted", text: "No flags on record." }),
      evidence.quarantined
        ? el("button", { id: "unflag-user", type: "button", text: "Unflag...", onclick: () => void unflag([userId], () => openUser(userId)) })
        : el("button", { id: "flag-user", type: "button", class: "danger", text: "Flag...", onclick: () => void flag([userId], () => openUser(userId)) }),
    ]);
  }

  // ------------------------------------------------------------------ flag and unflag

  /**
   * Ask for a reason in a modal dialog; the reason, or null when cancelled.
   * @param {string} title
   * @param {string} text
   * @param {string} confirmLabel
   * @returns {Promise<string | null>}
   */
  function askReason(title, text, confirmLabel) {
    return new Promise((resolve) => {
      const reason = /** @type {HTMLTextAreaElement} */ (el("textarea", { id: "confirm-reason", required: true, "aria-label": "reason" }));
      const ok = /** @type {HTMLButtonElement} */ (el("button", { id: "confirm-ok", type: "submit", class: "danger", text: confirmLabel, disabled: true }));
      const cancel = el("button", { id: "confirm-cancel", type: "button", text: "Cancel" });
      const form = el("form", { method: "dialog" }, [el("h3", { text: title }), el("p", { text }), el("label", { for: "confirm-reason", text: "Reason (recorded in the audit log)" }), reason, el("p", {}, [ok, " ", cancel])]);
      const dialog = /** @type {HTMLDialogElement} */ (el("dialog", { id: "confirm" }, [form]));
      reason.addEventListener("input", () => {
        ok.disabled = reason.value.trim() === "";
      });
      /** @param {string | null} value */
      const finish = (value) => {
        dialog.close();
        dialog.remove();
        resolve(value);
      };
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        finish(reason.value.trim() || null);
      });
      cancel.addEventListener("click", () => finish(null));
      dialog.addEventListener("cancel", (event) => {
        event.preventDefault();
        finish(null);
      });
      document.body.append(dialog);
      dialog.showModal();
      reason.focus();
    });
  }

  /**
   * @param {string[]} users
   * @param {() => Promise<void>} after
   */
  async function flag(users, after) {
    const reason = await askReason(
      users.length === 1 ? `Flag ${users[0]}?` : `Flag all ${users.length} members?`,
      `Quarantine takes ${users.length === 1 ? "this account" : "these accounts"} out of everyone's network score; it can be undone (unflag).`,
      "Confirm flag",
    );
    if (reason === null) {
      return;
    }
    await guarded(async () => {
      const data = await gql("mutation($users: [String!]!, $reason: String!) { flagUsers(users: $users, reason: $reason) { changes { userId before after } } }", { users, reason });
      await after();
      showError("");
      const status = document.getElementById("status");
      if (status) {
        status.className = "muted";
        status.textContent = `Flagged ${users.length}; ${data.flagUsers.changes.length} scores moved.`;
      }
    });
  }

  /**
   * @param {string[]} users
   * @param {() => Promise<void>} after
   */
  async function unflag(users, after) {
    const reason = await askReason(`Unflag ${users.join(", ")}?`, "The quarantine is cleared and the scores are recomputed.", "Confirm unflag");
    if (reason === null) {
      return;
    }
    await guarded(async () => {
      for (const user of users) {
        await gql("mutation($user: String!, $reason: String!) { unflagUser(user: $user, reason: $reason) { changes { userId } } }", { user, reason });
      }
      await after();
    });
  }

  // ------------------------------------------------------------------ clusters tab

  const clustersQuery = (/** @type {number} */ first) => `query Clusters { suspiciousClusters(first: ${int(first)}) {
    rank userIds size density relativeDensity internalLinks attackLinks outsideNeighbours insideShare thinFraction meanBase suspicion } }`;

  /** @param {HTMLElement} view */
  function renderClustersTab(view) {
    view.append(
      el("div", { class: "card" }, [
        el("h2", { text: "Suspicious clusters, most suspicious first" }),
        el("button", { id: "clusters-load", type: "button", text: "Find clusters", onclick: () => void loadClusters() }),
        el("div", { id: "cluster-list" }),
      ]),
      el("div", { id: "cluster-view" }),
    );
    void loadClusters();
  }

  async function loadClusters() {
    await guarded(async () => {
      const data = await gql(clustersQuery(page(10)));
      const rows = data.suspiciousClusters;
      byId("cluster-list").replaceChildren(
        rows.length === 0 ? el("p", { class: "muted", text: "No suspicious cluster in the current graph." }) : sortableTable("clusters-table", [
          { key: "rank", label: "rank", num: true, digits: 0, render: (row) => el("button", { type: "button", class: "link", "data-cluster": row.rank, text: `#${row.rank}`, onclick: (/** @type {Event} */ e) => { e.stopPropagation(); void openCluster(row); } }) },
          { key: "size", label: "members", num: true, digits: 0 }, { key: "suspicion", label: "suspicion", num: true },
          { key: "relativeDensity", label: "rel. density", num: true, digits: 1 }, { key: "insideShare", label: "inside share", num: true },
          { key: "attackLinks", label: "outside links", num: true, digits: 0 }, { key: "thinFraction", label: "thin files", num: true },
          { key: "meanBase", label: "mean base", num: true },
        ], rows, { sort: "rank", descending: false, onSelect: (row) => void openCluster(row) }),
      );
    });
  }

  /** @param {any} cluster */
  async function openCluster(cluster) {
    await guarded(async () => {
      const members = /** @type {string[]} */ (cluster.userIds);
      const limit = page(100);
      const drawnMembers = members.slice(0, limit);
      const perRequest = Math.max(1, Math.min(15, (state.viewer ? state.viewer.maxAliases : 15) - 1));
      /** @type {any[]} */
      const users = [];
      const requests = [];
      for (let start = 0; start < drawnMembers.length; start += perRequest) {
        const chunk = drawnMembers.slice(start, start + perRequest);
        const variables = chunk.map((_, i) => `$u${i}: String!`).join(", ");
        const fields = chunk.map((_, i) => `m${i}: user(id: $u${i}) { userId score quarantined friends(first: ${int(page(100))}) { totalCount edges { weight node { userId } } } }`).join("\n");
        /** @type {Record<string, unknown>} */
        const values = {};
        chunk.forEach((id, i) => {
          values[`u${i}`] = id;
        });
        requests.push(gql(`query Members(${variables}) { ${fields} }`, values));
      }
      for (const data of await Promise.all(requests)) {
        users.push(...Object.values(data));
      }
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
          const id = user.userId < other ? `${user.userId}|${other}` : `${other}|${user.userId}`;
          if (!seen.has(id)) {
            seen.add(id);
            edges.push({ data: { id, source: user.userId, target: other, weight: edge.weight, width: Math.max(0.5, Math.min(6, edge.weight)) } });
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
      const quarantined = users.filter((u) => u.quarantined).map((u) => u.userId);
      byId("cluster-view").replaceChildren(el("div", { class: "grid", id: "cluster-detail", "data-rank": cluster.rank }, [
        el("div", {}, [
          el("div", { class: "card" }, [
            el("h3", { text: `Cluster #${cluster.rank}: evidence` }),
            el("table", { id: "cluster-evidence" }, [el("tbody", {}, evidence.map(([k, v]) => el("tr", {}, [el("th", { text: String(k) }), el("td", { class: "num", text: String(v) })])))]),
          ]),
          el("div", { class: "card" }, [
            el("h3", { text: "Members" }),
            sortableTable("members-table", [
              { key: "userId", label: "user", render: (row) => userLink(row.userId) },
              { key: "score", label: "score", num: true, digits: 0 },
              { key: "quarantined", label: "flagged", render: (row) => row.quarantined
                ? el("button", { type: "button", class: "link", "data-unflag": row.userId, text: "flagged: unflag...", onclick: (/** @type {Event} */ e) => { e.stopPropagation(); void unflag([row.userId], () => openCluster(cluster)); } })
                : "no" },
            ], users, { sort: "score", onSelect: (row) => select(row.userId), rowKey: "userId" }),
            members.length > drawnMembers.length ? el("p", { class: "more", id: "members-more", text: `${drawnMembers.length} of ${members.length} members listed and drawn (+${members.length - drawnMembers.length} more).` }) : "",
            el("p", {}, [
              el("button", { id: "cluster-preview", type: "button", text: "Preview quarantine", onclick: () => void previewQuarantine(members) }), " ",
              el("button", { id: "cluster-flag", type: "button", class: "danger", text: `Flag all ${members.length}...`,
                disabled: quarantined.length === members.length || members.length > limit,
                onclick: () => void flag(members.filter((m) => !quarantined.includes(m)), () => openCluster(cluster)) }),
            ]),
            members.length > limit ? el("p", { class: "muted", text: `A cluster of more than ${limit} members is flagged member by member (flagUsers takes at most ${limit}).` }) : "",
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
      drawGraph("cluster", byId("cluster-graph"), [...nodes, ...edges], (id) => select(id), "circle");
    });
  }

  /** @param {string[]} members */
  async function previewQuarantine(members) {
    await guarded(async () => {
      const data = await gql("query WhatIf($users: [String!]!) { whatIf(removeUsers: $users) { userId before after } }", { users: members });
      const changes = data.whatIf.map((/** @type {any} */ c) => ({ ...c, points: c.after - c.before }));
      const memberSet = new Set(members);
      const inside = changes.filter((/** @type {any} */ c) => memberSet.has(c.userId));
      const outside = changes.filter((/** @type {any} */ c) => !memberSet.has(c.userId)).sort((/** @type {any} */ a, /** @type {any} */ b) => a.points - b.points);
      const shownOutside = outside.slice(0, 25);
      const sum = (/** @type {any[]} */ rows) => rows.reduce((total, row) => total + row.points, 0);
      const columns = /** @type {Column[]} */ ([
        { key: "userId", label: "user", render: (row) => userLink(row.userId) },
        { key: "before", label: "now", num: true, digits: 0 }, { key: "after", label: "if quarantined", num: true, digits: 0 },
        { key: "points", label: "points", num: true, digits: 0, render: (row) => el("span", { class: row.points < 0 ? "neg" : "pos", text: String(row.points) }) },
      ]);
      byId("preview").replaceChildren(el("div", { class: "card", id: "preview-card" }, [
        el("h3", { text: "What-if: quarantine the cluster (nothing is stored)" }),
        el("p", { id: "preview-summary", text: `Members: ${sum(inside)} points over ${inside.length} of ${members.length} members whose score moves. Outsiders: ${sum(outside)} points over ${outside.length} users.` }),
        el("h3", { text: "Per member" }),
        sortableTable("preview-members", columns, inside, { sort: "points", descending: false, onSelect: (row) => select(row.userId), rowKey: "userId" }),
        el("h3", { text: "Per outsider (largest moves first)" }),
        sortableTable("preview-outsiders", columns, shownOutside, { sort: "points", descending: false, rowKey: "userId" }),
        outside.length > shownOutside.length ? el("p", { class: "more", id: "preview-more", text: `+${outside.length - shownOutside.length} more outsiders move (by less).` }) : "",
      ]));
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
      const value = (/** @type {HTMLElement} */ input) => /** @type {HTMLInputElement} */ (input).value.trim();
      void findPaths(value(source), value(target), Number(value(k)), Number(value(hops)));
    });
    view.append(el("div", { class: "card" }, [el("h2", { text: "Influence paths: how one user's base reaches another's network value" }), form]), el("div", { id: "paths-view" }));
  }

  /** @param {string} source @param {string} target @param {number} k @param {number} hops */
  async function findPaths(source, target, k, hops) {
    await guarded(async () => {
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
        el("div", { class: "card" }, [el("h3", { text: `${paths.length} strongest chains` }), list, steps, hopLabel]),
        el("div", { class: "card" }, [el("div", { id: "paths-graph", class: "graph" })]),
      ]));
      const graph = drawGraph("paths", byId("paths-graph"), [...nodes.values(), ...edges.values()], (id) => select(id));
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
      const value = (/** @type {HTMLElement} */ input) => /** @type {HTMLInputElement} */ (input).value.trim() || null;
      void loadAudit(value(actor), value(subject), null);
    });
    view.append(el("div", { class: "card" }, [el("h2", { text: "Audit log (oldest first)" }), form, el("div", { id: "audit-list" })]));
    void loadAudit(null, null, null);
  }

  /** @param {string | null} actor @param {string | null} subject @param {string | null} after */
  async function loadAudit(actor, subject, after) {
    await guarded(async () => {
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
