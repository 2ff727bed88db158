// What one operation may ask for: depth, aliases and an estimated cost, all
// measured on the operation about to run, before the planner sends anything
// to a subgraph. The token limit is enforced by the parser itself.
import {
  getArgumentValues,
  getNamedType,
  getNullableType,
  GraphQLError,
  isListType,
  Kind,
} from 'graphql';

// The services' pagination (kit/pcse_kit/pagination.py): `first` defaults to
// 20 and may not exceed 100.
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;
// A plain list (performers of a practice, lines of a statement) has no page
// size to read; this is a generous guess at how long one is.
export const ASSUMED_LIST_SIZE = 10;

function pageSize(fieldDef, node, variables) {
  let first;
  try {
    first = getArgumentValues(fieldDef, node, variables).first;
  } catch {
    // A bad argument value is refused later by the service; price it at most.
    return MAX_PAGE_SIZE;
  }
  if (typeof first !== 'number' || !Number.isFinite(first)) return DEFAULT_PAGE_SIZE;
  return Math.min(Math.max(Math.trunc(first), 1), MAX_PAGE_SIZE);
}

function hasVariable(value) {
  if (value.kind === Kind.VARIABLE) return true;
  if (value.kind === Kind.LIST) return value.values.some(hasVariable);
  if (value.kind === Kind.OBJECT) return value.fields.some((field) => hasVariable(field.value));
  return false;
}

const ZERO = Object.freeze({ depth: 0, aliases: 0, cost: 0 });

/**
 * Depth, alias count and estimated cost of `operation`, fragments included.
 *
 * - depth: fields nested in each other; a root field is depth 1.
 * - aliases: every aliased field, counted as often as it would run (a
 *   fragment spread twice counts its aliases twice).
 * - cost: each field costs 1. Everything below a field that takes `first` (a
 *   connection) is multiplied by that page size (default 20, at most 100);
 *   everything below a plain list field by ASSUMED_LIST_SIZE. The `nodes` and
 *   `edges` lists of a connection are the page already paid for.
 *
 * Introspection (`__schema`, `__type`) is left out of all three: it is
 * allowed or refused as a whole, and GraphiQL's query is deeper than any
 * application query needs to be. `__typename` counts like any field.
 *
 * Fragment results are memoised, so a document built to expand exponentially
 * is measured in time linear to its size (its numbers just become huge).
 * Validation has already rejected fragment cycles and unknown fields.
 *
 * `usesVariables` says whether a variable's value went into the figures (a
 * page size given as a variable); when it did not, they hold for every
 * request of the same operation.
 */
export function measureOperation(schema, document, operation, variables) {
  const fragments = new Map();
  for (const def of document.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  }
  const memo = new Map();
  let usesVariables = false;

  function selectionSet(set, parentType, inPage) {
    let depth = 0;
    let aliases = 0;
    let cost = 0;
    for (const selection of set.selections) {
      let child = ZERO;
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (name.startsWith('__') && name !== '__typename') continue;
        if (selection.alias) aliases += 1;
        const fieldDef = name === '__typename' ? undefined : parentType?.getFields?.()[name];
        let factor = 1;
        let childInPage = false;
        if (fieldDef) {
          if (fieldDef.args.some((arg) => arg.name === 'first')) {
            usesVariables ||= selection.arguments?.some((arg) => hasVariable(arg.value)) ?? false;
            factor = pageSize(fieldDef, selection, variables);
            childInPage = true;
          } else if (!inPage && isListType(getNullableType(fieldDef.type))) {
            factor = ASSUMED_LIST_SIZE;
          }
          if (selection.selectionSet) {
            child = selectionSet(selection.selectionSet, getNamedType(fieldDef.type), childInPage);
          }
        }
        depth = Math.max(depth, 1 + child.depth);
        aliases += child.aliases;
        cost += 1 + factor * child.cost;
        continue;
      }
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition
          ? schema.getType(selection.typeCondition.name.value)
          : parentType;
        child = selectionSet(selection.selectionSet, type, inPage);
      } else if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const name = selection.name.value;
        const key = `${name}\u0000${inPage}`;
        child = memo.get(key);
        if (!child) {
          const fragment = fragments.get(name);
          // Marks the fragment as in progress, so that a cycle (which
          // validation should have refused) ends here instead of recursing.
          memo.set(key, ZERO);
          const type = fragment && schema.getType(fragment.typeCondition.name.value);
          child = fragment ? selectionSet(fragment.selectionSet, type, inPage) : ZERO;
          memo.set(key, child);
        }
      }
      depth = Math.max(depth, child.depth);
      aliases += child.aliases;
      cost += child.cost;
    }
    return { depth, aliases, cost };
  }

  const measured = selectionSet(
    operation.selectionSet,
    schema.getRootType(operation.operation),
    false,
  );
  return { ...measured, usesVariables };
}

function limitError(message, code, extra = {}) {
  // spec: true makes these answer like validation errors: 200 for
  // application/json, 400 for application/graphql-response+json.
  return new GraphQLError(message, {
    extensions: { code, ...extra, http: { spec: true, status: 400 } },
  });
}

/** The errors for whatever `measured` exceeds; a limit of 0 is no limit. */
export function limitErrors(measured, { maxDepth, maxAliases, maxCost }) {
  const errors = [];
  if (maxDepth && measured.depth > maxDepth) {
    errors.push(
      limitError(
        `The operation is nested ${measured.depth} levels deep; the limit is ${maxDepth}.`,
        'QUERY_TOO_DEEP',
      ),
    );
  }
  if (maxAliases && measured.aliases > maxAliases) {
    errors.push(
      limitError(
        `The operation uses ${measured.aliases} aliases; the limit is ${maxAliases}.`,
        'TOO_MANY_ALIASES',
      ),
    );
  }
  if (maxCost && measured.cost > maxCost) {
    const estimated = Number.isSafeInteger(measured.cost) ? measured.cost : Number.MAX_SAFE_INTEGER;
    errors.push(
      limitError(
        `The operation's estimated cost is ${estimated}; the limit is ${maxCost}. ` +
          'Ask for smaller pages (first) or fewer nested lists.',
        'QUERY_TOO_COMPLEX',
        { cost: { estimated, limit: maxCost } },
      ),
    );
  }
  return errors;
}

export function tokenLimitError(maxTokens) {
  return limitError(
    `The document is too long: the limit is ${maxTokens} tokens.`,
    'QUERY_TOO_LARGE',
  );
}
