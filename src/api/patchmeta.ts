// What strategic merge patch needs to know about a field, looked up from the schema
// (x-kubernetes-patch-strategy / x-kubernetes-patch-merge-key in the OpenAPI documents).
// src/api/schema.ts implements it from the served OpenAPI schemas; tests use small fakes.

export interface FieldPatchMeta {
  /** Strategies from x-kubernetes-patch-strategy, split on ",": "merge", "replace", "retainKeys". */
  strategies: string[];
  /** x-kubernetes-patch-merge-key for lists of objects merged by key. */
  mergeKey?: string;
  /** 'object' | 'array' | 'map' (additionalProperties) | 'primitive' | 'unknown'. */
  type: 'object' | 'array' | 'map' | 'primitive' | 'unknown';
  /**
   * Meta for the field's value: for an object, its fields; for an array, its items' fields;
   * for a map, the values' fields. Undefined when the schema says nothing more (then the
   * patch falls back to JSON merge semantics below this point).
   */
  elem?: PatchMeta;
}

export interface PatchMeta {
  field(name: string): FieldPatchMeta | undefined;
}
