/** Where things are, from a compiled test file (build/test/<dir>/<file>.js) or its source. */

import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

function findPackageRoot(start: string): string {
  let dir = start;
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "@lodestone/client") {
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error("not inside the @lodestone/client package");
    dir = parent;
  }
}

/** bridge/js */
export const packageRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
/** The repository root. */
export const repoRoot = resolve(packageRoot, "..", "..");
/** The shared wire vectors. */
export const vectorsPath = join(repoRoot, "schemas", "vectors", "wire_v1.json");
