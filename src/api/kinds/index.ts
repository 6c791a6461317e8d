// Every API resource podnet serves. Adding a kind: write its record in this folder and list it
// in core-index.ts or net-index.ts.
import type { ResourceType } from '../registry.js';
import { coreKinds } from './core-index.js';
import { netKinds } from './net-index.js';

export const allKinds: ResourceType[] = [...coreKinds, ...netKinds];
