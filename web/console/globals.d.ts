// The UMD bundle the console loads before credence-console.js (served from the package, never a CDN).

interface Window {
  cytoscape: typeof import("cytoscape");
  credenceConsole: {
    timings: Array<{ name: string; ms: number; detail: Record<string, number> }>;
    graphs: Record<string, import("cytoscape").Core | undefined>;
  };
}
