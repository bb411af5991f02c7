/// <reference types="vitest" />
// One build for every page: each page is an entry (src/pages/<name>/main.ts); Flask's templates include an
// entry's script and styles through the manifest (web/assets.py). The output is committed in web/static/app,
// and `make test` rebuilds into a temporary folder and compares (decision 0017), so `make demo` needs no
// Node.js. Element Plus (desktop pages) and Vant (phone pages) are imported per component by the resolvers.
import { fileURLToPath, URL } from "node:url";
import { readdirSync, existsSync } from "node:fs";
import { defineConfig } from "vite";
import vue from "@vitejs/plugin-vue";
import Components from "unplugin-vue-components/vite";
import { ElementPlusResolver, VantResolver } from "unplugin-vue-components/resolvers";

const pagesDir = fileURLToPath(new URL("./src/pages", import.meta.url));
const input: Record<string, string> = {};
for (const name of readdirSync(pagesDir)) {
  const main = `${pagesDir}/${name}/main.ts`;
  if (existsSync(main)) input[name] = main;
}
const sw = fileURLToPath(new URL("./src/sw/sw.ts", import.meta.url));
if (existsSync(sw)) input.sw = sw;

export default defineConfig({
  base: "/static/app/",
  plugins: [
    vue(),
    Components({ dts: false, resolvers: [ElementPlusResolver({ importStyle: "css" }), VantResolver()] }),
  ],
  resolve: { alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) } },
  build: {
    outDir: process.env.YUNGUAN_OUT_DIR || "../web/static/app",
    // YUNGUAN_KEEP_OLD=1: keep earlier files (several people building while test servers read them).
    emptyOutDir: process.env.YUNGUAN_KEEP_OLD !== "1",
    manifest: "manifest.json", // at the top of the output, not in .vite/ (package data skips hidden folders)
    sourcemap: false,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      input,
      output: {
        // The service worker must keep one name (its URL is its identity); everything else is hashed.
        entryFileNames: (chunk) => (chunk.name === "sw" ? "sw.js" : "assets/[name]-[hash].js"),
      },
    },
  },
  test: {
    environment: "happy-dom",
    include: ["src/**/*.test.ts"],
    // Components tests mount Element Plus / Vant: their per-component style imports (.css) must go through
    // Vite, not Node's loader.
    server: { deps: { inline: [/element-plus\/es\/components\/[^/]+\/style/, /vant\/es\/[^/]+\/style/] } },
  },
});
