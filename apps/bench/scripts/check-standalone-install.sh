#!/usr/bin/env bash
# Proves that @engram/expire-span and @engram/compression install on their own: build, pack the packages
# and their workspace dependencies, npm-install the tarballs with tfjs into an empty project, check that
# datasets/trainer/cli/bench did not come along, and run a small example against each package there.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
PNPM="${PNPM:-npx -y pnpm@10.34.9}"
TFJS_VERSION="4.22.0"
targets=("@engram/expire-span" "@engram/compression")
forbidden=("@engram/datasets" "@engram/trainer" "@engram/cli" "@engram/bench")

work="$(mktemp -d "${TMPDIR:-/tmp}/engram-standalone-XXXXXX")"
if [ "${KEEP_STANDALONE_DIR:-}" = "" ]; then trap 'rm -rf "$work"' EXIT; fi
echo "== standalone install check in $work"

# The packages to pack: the targets and every workspace package they depend on (transitively).
mapfile -t closure < <(node --input-type=module - "$root" "${targets[@]}" <<'EOF'
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
const [root, ...targets] = process.argv.slice(2);
const directories = new Map();
for (const group of ['packages', 'apps']) {
  for (const entry of readdirSync(join(root, group))) {
    const file = join(root, group, entry, 'package.json');
    if (existsSync(file)) directories.set(JSON.parse(readFileSync(file, 'utf8')).name, join(root, group, entry));
  }
}
const seen = new Set();
const visit = (name) => {
  if (seen.has(name)) return;
  if (!directories.has(name)) throw new Error(`workspace package ${name} not found`);
  seen.add(name);
  const manifest = JSON.parse(readFileSync(join(directories.get(name), 'package.json'), 'utf8'));
  for (const [dependency, range] of Object.entries(manifest.dependencies ?? {})) {
    if (String(range).startsWith('workspace:')) visit(dependency);
  }
};
targets.forEach(visit);
for (const name of seen) console.log(`${name}\t${directories.get(name)}`);
EOF
)
echo "== packages to pack: $(printf '%s ' "${closure[@]%%$'\t'*}")"

echo "== build"
filters=()
for target in "${targets[@]}"; do filters+=("--filter=${target}..."); done
(cd "$root" && $PNPM exec turbo run build "${filters[@]}" --output-logs=errors-only)

echo "== pack"
mkdir -p "$work/tarballs"
for line in "${closure[@]}"; do
  directory="${line#*$'\t'}"
  (cd "$directory" && $PNPM pack --pack-destination "$work/tarballs" >/dev/null)
done
ls -1 "$work/tarballs"

echo "== npm install into an empty project"
mkdir -p "$work/app"
cd "$work/app"
npm init -y >/dev/null
npm pkg set type=module >/dev/null
npm install --no-audit --no-fund --loglevel=error \
  "$work"/tarballs/*.tgz \
  "@tensorflow/tfjs@${TFJS_VERSION}" "@tensorflow/tfjs-backend-wasm@${TFJS_VERSION}"

echo "== installed @engram packages: $(ls node_modules/@engram | tr '\n' ' ')"
status=0
for name in "${forbidden[@]}"; do
  if [ -e "node_modules/${name}" ]; then
    echo "FAIL: ${name} was installed alongside the library packages" >&2
    status=1
  fi
done
[ "$status" -eq 0 ] || exit "$status"

echo "== run the examples"
cp "$here/standalone/"*.mjs .
for example in ./*.mjs; do
  echo "-- node $example"
  node "$example"
done
echo "== standalone install check passed"
