// Copies the files package.json's "vendor" map names from node_modules/ into
// daemon/gateway/static/vendor/<name>/, keeping their paths. Run after `npm ci`:
//   cd dashboard && npm ci && npm run vendor
// tests/dashboard/test_vendor.py checks that the copies match the packages byte for byte.
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, "..", "daemon", "gateway", "static", "vendor");
const { vendor } = JSON.parse(readFileSync(join(here, "package.json"), "utf8"));

for (const [name, { from, files }] of Object.entries(vendor)) {
  rmSync(join(target, name), { recursive: true, force: true });
  for (const file of files) {
    const destination = join(target, name, file);
    mkdirSync(dirname(destination), { recursive: true });
    copyFileSync(join(here, from, file), destination);
  }
  console.log(`vendor/${name}: ${files.length} files from ${from}`);
}
