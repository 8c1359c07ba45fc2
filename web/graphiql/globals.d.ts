// The UMD bundles the page loads before credence-graphiql.js (served from the package, never a CDN).

interface GraphiQLFetcherOptions {
  headers?: Record<string, unknown>;
  documentAST?: { definitions: ReadonlyArray<{ kind: string; operation?: string; name?: { value: string } }> };
}

interface GraphQLParams {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
}

interface WsClient {
  iterate(request: GraphQLParams): AsyncIterableIterator<unknown>;
  dispose(): void | Promise<void>;
}

interface Window {
  React: { createElement(type: unknown, props: Record<string, unknown>): unknown };
  ReactDOM: { createRoot(element: Element): { render(node: unknown): void } };
  GraphiQL: unknown;
  graphqlWs: { createClient(options: { url: string; connectionParams: () => Record<string, string>; lazy?: boolean }): WsClient };
}
