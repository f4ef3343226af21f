// Variable naming of the MemoryPolicy contract: `<unique scope>/<stable name>`, the stable name being what the model saves.
import * as tf from '@tensorflow/tfjs';

/**
 * The two parts of a tfjs variable name under the `<scope>/<stable name>` convention: everything before the last
 * `/` (empty when there is none) and everything after it (what `@engram/model` saves as `policy.<stable name>`).
 */
export function splitVariableName(name: string): { scope: string; stableName: string } {
  const slash = name.lastIndexOf('/');
  return slash < 0 ? { scope: '', stableName: name } : { scope: name.slice(0, slash), stableName: name.slice(slash + 1) };
}

const scopeCounters = new Map<string, number>();

/**
 * A variable scope that no live tfjs variable uses: `{base}{N}` (`compressive1`, `compressive2`, ...), N counting up
 * per base, skipping any scope a live variable already sits in (for example one created by another copy of this
 * package). Variables are then named `{scope}/{stable name}`, so their stable names never carry a suffix.
 */
export function uniqueVariableScope(base: string): string {
  const names = Object.keys(tf.engine().registeredVariables);
  for (;;) {
    const next = (scopeCounters.get(base) ?? 0) + 1;
    scopeCounters.set(base, next);
    const scope = `${base}${next}`;
    if (!names.some((name) => name.startsWith(`${scope}/`))) return scope;
  }
}

/**
 * A variable name not held by any live tfjs variable, keeping its stable name (the part after the last `/`):
 * `base` when free, else the scope gets a suffix, `{scope}_2/{stable name}`, `{scope}_3/{stable name}`, ...
 * (`_2/{stable name}`, ... for a name without a scope). tfjs variable names are process-wide; suffixing the
 * scope rather than the name keeps the names `@engram/model` saves identical in every process.
 */
export function uniqueVariableName(base: string): string {
  const registered = tf.engine().registeredVariables;
  if (registered[base] === undefined) return base;
  const { scope, stableName } = splitVariableName(base);
  for (let suffix = 2; ; suffix++) {
    const candidate = `${scope}_${suffix}/${stableName}`;
    if (registered[candidate] === undefined) return candidate;
  }
}
