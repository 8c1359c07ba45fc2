// @ts-check
/*
 * Credence's GraphiQL page. The API key is typed into the field above the editor (kept
 * in this tab's sessionStorage, never in the URL); queries and mutations go over HTTP
 * with it as a Bearer token, subscriptions over graphql-transport-ws with it in the
 * connection_init payload (browsers cannot set websocket headers). A `#query=...`
 * fragment (never sent to the server) opens the editor with that document.
 */
(function () {
  "use strict";

  const KEY_STORAGE = "credence.apiKey";
  const keyInput = /** @type {HTMLInputElement} */ (document.getElementById("credence-key"));
  const mount = /** @type {HTMLElement} */ (document.getElementById("graphiql"));
  const endpoint = new URL(document.body.dataset.endpoint || "/graphql", window.location.href);
  const socketUrl = endpoint.href.replace(/^http/, "ws");

  keyInput.value = window.sessionStorage.getItem(KEY_STORAGE) || "";
  keyInput.addEventListener("input", () => {
    window.sessionStorage.setItem(KEY_STORAGE, keyInput.value.trim());
  });

  /** @returns {string} the key typed in, trimmed */
  function currentKey() {
    return keyInput.value.trim();
  }

  /** @type {WsClient | null} */
  let socket = null;
  /** @type {string | null} */
  let socketKey = null;

  /** @returns {WsClient} a websocket client opened with the current key (a new one when it changed) */
  function subscriptions() {
    const key = currentKey();
    if (socket === null || socketKey !== key) {
      if (socket !== null) {
        void socket.dispose();
      }
      socketKey = key;
      socket = window.graphqlWs.createClient({
        url: socketUrl,
        lazy: true,
        connectionParams: () => ({ authorization: `Bearer ${key}` }),
      });
    }
    return socket;
  }

  /**
   * @param {GraphQLParams} params
   * @param {GraphiQLFetcherOptions | undefined} options
   * @returns {boolean} whether the operation to run is a subscription
   */
  function isSubscription(params, options) {
    const definitions = options && options.documentAST ? options.documentAST.definitions : [];
    const operation = definitions.find(
      (d) => d.kind === "OperationDefinition" && (!params.operationName || (d.name && d.name.value === params.operationName)),
    );
    return operation ? operation.operation === "subscription" : /^\s*subscription\b/.test(params.query);
  }

  /**
   * GraphiQL's fetcher: HTTP for queries and mutations, the websocket for subscriptions.
   * @param {GraphQLParams} params
   * @param {GraphiQLFetcherOptions} [options]
   * @returns {Promise<unknown> | AsyncIterableIterator<unknown>}
   */
  function fetcher(params, options) {
    if (isSubscription(params, options)) {
      return subscriptions().iterate(params);
    }
    /** @type {Record<string, string>} */
    const headers = { "content-type": "application/json", accept: "application/json" };
    for (const [name, value] of Object.entries((options && options.headers) || {})) {
      headers[name] = String(value);
    }
    if (currentKey()) {
      headers.authorization = `Bearer ${currentKey()}`;
    }
    return fetch(endpoint.href, { method: "POST", headers, body: JSON.stringify(params) }).then((r) => r.json());
  }

  const initial = new URLSearchParams(window.location.hash.slice(1)).get("query");
  const props = { fetcher, defaultEditorToolsVisibility: false, ...(initial ? { query: initial } : {}) };
  window.ReactDOM.createRoot(mount).render(window.React.createElement(window.GraphiQL, props));
})();
