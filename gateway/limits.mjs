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
  parse,
  valueFromASTUntyped,
} from 'graphql';

// The services' pagination (kit/pcse_kit/pagination.py): `first` defaults to
// 20 and may not exceed 100.
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;
// A plain list (performers of a practice, lines of a statement) has no page
// size to read; this is a generous guess at how long one is.
export const ASSUMED_LIST_SIZE = 10;

// The largest of the slicing arguments given (a page size), clamped to the
// services' maximum; `fallback` when none is given.
function sliceSize(fieldDef, node, variables, names, fallback) {
  let values;
  try {
    values = getArgumentValues(fieldDef, node, variables);
  } catch {
    // A bad argument value is refused later by the service; price it at most.
    return MAX_PAGE_SIZE;
  }
  const given = names
    .map((name) => values[name])
    .filter((value) => typeof value === 'number' && Number.isFinite(value));
  if (given.length === 0) return fallback;
  return Math.min(Math.max(Math.trunc(Math.max(...given)), 1), MAX_PAGE_SIZE);
}

function pageSize(fieldDef, node, variables) {
  return sliceSize(fieldDef, node, variables, ['first'], DEFAULT_PAGE_SIZE);
}

/**
 * What the subgraphs declare about the cost of their fields, read from the
 * composed supergraph: `@cost(weight:)` (what resolving the field costs, in
 * place of 1) and `@listSize(assumedSize:, slicingArguments:, sizedFields:)`
 * (how long the list it returns is: the slicing argument's value, else the
 * assumed size; with sizedFields, the size multiplies those child fields, as
 * a connection's `nodes` and `edges`). Keyed by "Type.field".
 */
export function readCostDirectives(supergraphSdl) {
  const costs = new Map();
  const document = typeof supergraphSdl === 'string' ? parse(supergraphSdl, { noLocation: true }) : supergraphSdl;
  for (const definition of document.definitions) {
    if (!definition.fields || !definition.name) continue;
    for (const field of definition.fields) {
      const entry = {};
      for (const directive of field.directives ?? []) {
        const args = Object.fromEntries(
          (directive.arguments ?? []).map((arg) => [arg.name.value, valueFromASTUntyped(arg.value)]),
        );
        if (directive.name.value === 'cost' && Number.isInteger(args.weight)) {
          entry.weight = Math.max(args.weight, 0);
        } else if (directive.name.value === 'listSize') {
          entry.listSize = {
            assumedSize: Number.isInteger(args.assumedSize) ? args.assumedSize : undefined,
            slicingArguments: Array.isArray(args.slicingArguments) ? args.slicingArguments : [],
            sizedFields: Array.isArray(args.sizedFields) ? args.sizedFields : [],
          };
        }
      }
      if (entry.weight !== undefined || entry.listSize) {
        costs.set(`${definition.name.value}.${field.name.value}`, entry);
      }
    }
  }
  return costs;
}

const NO_COSTS = new Map();

function hasVariable(value) {
  if (value.kind === Kind.VARIABLE) return true;
  if (value.kind === Kind.LIST) return value.values.some(hasVariable);
  if (value.kind === Kind.OBJECT) return value.fields.some((field) => hasVariable(field.value));
  return false;
}

const ZERO = Object.freeze({ depth: 0, aliases: 0, cost: 0 });
const NOT_PAGED = Object.freeze({ inPage: false, sized: null, size: 1 });
const IN_PAGE = Object.freeze({ inPage: true, sized: null, size: 1 });

function pageKey(page) {
  if (page.sized) return `sized:${page.size}:${[...page.sized].join(',')}`;
  return page.inPage ? 'page' : '';
}

/**
 * Depth, alias count and estimated cost of `operation`, fragments included.
 *
 * - depth: fields nested in each other; a root field is depth 1.
 * - aliases: every aliased field, counted as often as it would run (a
 *   fragment spread twice counts its aliases twice).
 * - cost: each field costs 1, or its @cost weight. A field's @listSize says
 *   how many items it returns (a slicing argument's value, at most 100, else
 *   its assumed size), which multiplies what is selected below it, or only
 *   its sizedFields. Without @listSize, everything below a field that takes
 *   `first` (a connection) is multiplied by that page size (default 20, at
 *   most 100), and everything below a plain list field by ASSUMED_LIST_SIZE;
 *   the `nodes` and `edges` lists of a connection are the page already paid
 *   for. `costs` is readCostDirectives' map.
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
export function measureOperation(schema, document, operation, variables, costs = NO_COSTS) {
  const fragments = new Map();
  for (const def of document.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  }
  const memo = new Map();
  let usesVariables = false;

  // `page` describes the field whose selection this is: inPage when it is a
  // connection already multiplied by its page (its `nodes` and `edges` are
  // that page), or sized: the child fields a @listSize(sizedFields:) names,
  // with the size that multiplies them.
  function selectionSet(set, parentType, page) {
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
        const declared = fieldDef ? costs.get(`${parentType.name}.${name}`) : undefined;
        const weight = declared?.weight ?? 1;
        let factor = 1;
        let childPage = NOT_PAGED;
        if (fieldDef) {
          const listSize = declared?.listSize;
          const isList = isListType(getNullableType(fieldDef.type));
          if (listSize) {
            let size = listSize.assumedSize ?? (isList ? ASSUMED_LIST_SIZE : 1);
            if (listSize.slicingArguments.length) {
              usesVariables ||= selection.arguments?.some((arg) => hasVariable(arg.value)) ?? false;
              size = sliceSize(fieldDef, selection, variables, listSize.slicingArguments, listSize.assumedSize ?? DEFAULT_PAGE_SIZE);
            }
            if (listSize.sizedFields.length) {
              childPage = { inPage: false, sized: new Set(listSize.sizedFields), size };
            } else {
              factor = size;
            }
          } else if (page.sized?.has(name)) {
            factor = page.size;
          } else if (fieldDef.args.some((arg) => arg.name === 'first')) {
            usesVariables ||= selection.arguments?.some((arg) => hasVariable(arg.value)) ?? false;
            factor = pageSize(fieldDef, selection, variables);
            childPage = IN_PAGE;
          } else if (!page.inPage && isList) {
            factor = ASSUMED_LIST_SIZE;
          }
          if (selection.selectionSet) {
            child = selectionSet(selection.selectionSet, getNamedType(fieldDef.type), childPage);
          }
        }
        depth = Math.max(depth, 1 + child.depth);
        aliases += child.aliases;
        cost += weight + factor * child.cost;
        continue;
      }
      if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition
          ? schema.getType(selection.typeCondition.name.value)
          : parentType;
        child = selectionSet(selection.selectionSet, type, page);
      } else if (selection.kind === Kind.FRAGMENT_SPREAD) {
        const name = selection.name.value;
        const key = `${name}\u0000${pageKey(page)}`;
        child = memo.get(key);
        if (!child) {
          const fragment = fragments.get(name);
          // Marks the fragment as in progress, so that a cycle (which
          // validation should have refused) ends here instead of recursing.
          memo.set(key, ZERO);
          const type = fragment && schema.getType(fragment.typeCondition.name.value);
          child = fragment ? selectionSet(fragment.selectionSet, type, page) : ZERO;
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
    NOT_PAGED,
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
