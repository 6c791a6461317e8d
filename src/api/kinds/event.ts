// Events: core/v1 Event and events.k8s.io/v1 Event. Upstream stores both as one internal
// Event; here each API shape is mapped onto that internal view so both get upstream's
// validation (legacy rules for core/v1, strict ones for events.k8s.io/v1), columns and field
// selectors.

import type { FieldError } from '../errors.js';
import { invalid, required } from '../errors.js';
import type { KObject } from '../meta.js';
import { isObject } from '../meta.js';
import type { ResourceType, TableColumn } from '../registry.js';
import { humanDuration } from '../registry.js';
import { isDNS1123Subdomain, isQualifiedName, validateImmutableField } from '../validation/common.js';
import type { J } from './pod.js';

const obj = (v: unknown): Record<string, J> => (isObject(v) ? v : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The internal Event fields, whichever API the object came through. */
interface InternalEvent {
  namespace: string;
  name: string;
  involvedObject: Record<string, J>;
  reason: string;
  message: string;
  source: Record<string, J>;
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
  type: string;
  eventTime: string;
  series: Record<string, J> | undefined;
  action: string;
  related: unknown;
  reportingController: string;
  reportingInstance: string;
}

function fromCore(o: KObject): InternalEvent {
  const e = o as J;
  return {
    namespace: o.metadata.namespace ?? '', name: o.metadata.name ?? '',
    involvedObject: obj(e.involvedObject), reason: str(e.reason), message: str(e.message), source: obj(e.source),
    firstTimestamp: str(e.firstTimestamp), lastTimestamp: str(e.lastTimestamp), count: typeof e.count === 'number' ? e.count : 0,
    type: str(e.type), eventTime: str(e.eventTime), series: isObject(e.series) ? e.series : undefined, action: str(e.action),
    related: e.related ?? null, reportingController: str(e.reportingComponent), reportingInstance: str(e.reportingInstance),
  };
}

function fromEventsV1(o: KObject): InternalEvent {
  const e = o as J;
  const series = isObject(e.series) ? { count: e.series.count, lastObservedTime: e.series.lastObservedTime } : undefined;
  return {
    namespace: o.metadata.namespace ?? '', name: o.metadata.name ?? '',
    involvedObject: obj(e.regarding), reason: str(e.reason), message: str(e.note), source: obj(e.deprecatedSource),
    firstTimestamp: str(e.deprecatedFirstTimestamp), lastTimestamp: str(e.deprecatedLastTimestamp),
    count: typeof e.deprecatedCount === 'number' ? e.deprecatedCount : 0,
    type: str(e.type), eventTime: str(e.eventTime), series, action: str(e.action), related: e.related ?? null,
    reportingController: str(e.reportingController), reportingInstance: str(e.reportingInstance),
  };
}

const ReportingInstanceLengthLimit = 128;
const ActionLengthLimit = 128;
const ReasonLengthLimit = 128;
const NoteLengthLimit = 1024;

/** legacyValidateEvent. `reportingField` is the API's name for reportingController. */
function legacyValidate(e: InternalEvent, reportingField: string): FieldError[] {
  const errs: FieldError[] = [];
  const ioNs = str(e.involvedObject.namespace);
  if (!e.eventTime) {
    if (!ioNs) {
      if (e.namespace !== '' && e.namespace !== 'default') {
        errs.push(invalid('involvedObject.namespace', ioNs, 'does not match event.namespace'));
      }
    } else if (e.namespace !== ioNs) {
      errs.push(invalid('involvedObject.namespace', ioNs, 'does not match event.namespace'));
    }
  } else {
    if (!ioNs && e.namespace !== 'default' && e.namespace !== 'kube-system') {
      errs.push(invalid('involvedObject.namespace', ioNs, 'does not match event.namespace'));
    }
    if (!e.reportingController) errs.push(required(reportingField, ''));
    for (const m of isQualifiedName(e.reportingController)) errs.push(invalid(reportingField, e.reportingController, m));
    if (!e.reportingInstance) errs.push(required('reportingInstance', ''));
    if (e.reportingInstance.length > ReportingInstanceLengthLimit) {
      errs.push(invalid('reportingInstance', '', `can have at most ${ReportingInstanceLengthLimit} characters`));
    }
    if (!e.action) errs.push(required('action', ''));
    if (e.action.length > ActionLengthLimit) errs.push(invalid('action', '', `can have at most ${ActionLengthLimit} characters`));
    if (!e.reason) errs.push(required('reason', ''));
    if (e.reason.length > ReasonLengthLimit) errs.push(invalid('reason', '', `can have at most ${ReasonLengthLimit} characters`));
    if (e.message.length > NoteLengthLimit) errs.push(invalid('message', '', `can have at most ${NoteLengthLimit} characters`));
  }
  for (const m of isDNS1123Subdomain(e.namespace)) errs.push(invalid('namespace', e.namespace, m));
  return errs;
}

function validateSeries(e: InternalEvent): FieldError[] {
  if (!e.series) return [];
  const errs: FieldError[] = [];
  if (typeof e.series.count !== 'number' || e.series.count < 2) errs.push(invalid('series.count', '', 'should be at least 2'));
  if (!e.series.lastObservedTime) errs.push(required('series.lastObservedTime', ''));
  return errs;
}

/** The strict create rules of events.k8s.io/v1 (ValidateEventCreate). */
function strictValidateCreate(e: InternalEvent): FieldError[] {
  const errs = validateSeries(e);
  if (!e.eventTime) errs.push(required('eventTime', ''));
  if (e.type !== 'Normal' && e.type !== 'Warning') errs.push(invalid('type', '', `has invalid value: ${e.type}`));
  if (e.firstTimestamp) errs.push(invalid('firstTimestamp', '', 'needs to be unset'));
  if (e.lastTimestamp) errs.push(invalid('lastTimestamp', '', 'needs to be unset'));
  if (e.count !== 0) errs.push(invalid('count', '', 'needs to be unset'));
  if (str(e.source.component) || str(e.source.host)) errs.push(invalid('source', '', 'needs to be unset'));
  return errs;
}

function strictValidateUpdate(e: InternalEvent, old: InternalEvent): FieldError[] {
  const errs: FieldError[] = [];
  if (JSON.stringify(e.series) !== JSON.stringify(old.series)) errs.push(...validateSeries(e));
  const fields: (keyof InternalEvent)[] = [
    'involvedObject', 'reason', 'message', 'source', 'firstTimestamp', 'lastTimestamp', 'count', 'type',
    'eventTime', 'action', 'related', 'reportingController', 'reportingInstance',
  ];
  for (const f of fields) errs.push(...validateImmutableField(e[f], old[f], f));
  return errs;
}

// ---- `kubectl get events` -----------------------------------------------------------------

const since = (ts: string, now: Date): string => {
  const t = Date.parse(ts);
  return !ts || Number.isNaN(t) ? '<unknown>' : humanDuration(now.getTime() - t);
};

/** printEvent's cells, all columns in order. */
function eventRow(e: InternalEvent, now: Date): unknown[] {
  const first = e.firstTimestamp ? since(e.firstTimestamp, now) : since(e.eventTime, now);
  let last = e.lastTimestamp ? since(e.lastTimestamp, now) : first;
  let count = e.count;
  if (e.series) {
    last = since(str(e.series.lastObservedTime), now);
    count = typeof e.series.count === 'number' ? e.series.count : 0;
  } else if (count === 0) {
    count = 1;
  }
  const kind = str(e.involvedObject.kind).toLowerCase();
  const target = e.involvedObject.name ? `${kind}/${str(e.involvedObject.name)}` : kind;
  const component = str(e.source.component) || e.reportingController;
  const instance = str(e.source.host) || e.reportingInstance;
  const source = instance ? `${component}, ${instance}` : component;
  return [last, e.type, e.reason, target, str(e.involvedObject.fieldPath), source, e.message.trim(), first, count, e.name];
}

const eventColumns: TableColumn[] = [
  { name: 'Last Seen', type: 'string', description: 'The time at which the most recent occurrence of this event was recorded.', priority: 0 },
  { name: 'Type', type: 'string', description: 'Type of this event (Normal, Warning), new types could be added in the future', priority: 0 },
  { name: 'Reason', type: 'string', description: 'This should be a short, machine understandable string that gives the reason for the transition into the object\'s current status.', priority: 0 },
  { name: 'Object', type: 'string', description: 'The object that this event is about.', priority: 0 },
  { name: 'Subobject', type: 'string', description: 'The subobject (field path) that this event is about.', priority: 1 },
  { name: 'Source', type: 'string', description: 'The component reporting this event. Should be a short machine understandable string.', priority: 1 },
  { name: 'Message', type: 'string', description: 'A human-readable description of the status of this operation.', priority: 0 },
  { name: 'First Seen', type: 'string', description: 'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)', priority: 1 },
  { name: 'Count', type: 'string', description: 'The number of times this event has occurred.', priority: 1 },
  { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 1 },
];

/** EventToSelectableFields (beyond metadata.name/namespace). */
function eventFieldSelectors(view: (o: KObject) => InternalEvent): Record<string, (o: KObject) => string> {
  const io = (f: string) => (o: KObject) => str(view(o).involvedObject[f]);
  return {
    'involvedObject.kind': io('kind'),
    'involvedObject.namespace': io('namespace'),
    'involvedObject.name': io('name'),
    'involvedObject.uid': io('uid'),
    'involvedObject.apiVersion': io('apiVersion'),
    'involvedObject.resourceVersion': io('resourceVersion'),
    'involvedObject.fieldPath': io('fieldPath'),
    reason: (o) => view(o).reason,
    reportingComponent: (o) => view(o).reportingController,
    source: (o) => str(view(o).source.component) || view(o).reportingController,
    type: (o) => view(o).type,
  };
}

/** Field renames between events.k8s.io/v1 (left) and core/v1 (right), as upstream converts. */
const V1_TO_CORE: Array<[string, string]> = [
  ['regarding', 'involvedObject'], ['note', 'message'], ['deprecatedSource', 'source'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'], ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count'], ['reportingController', 'reportingComponent'],
  ['reportingInstance', 'reportingInstance'], ['eventTime', 'eventTime'], ['series', 'series'],
  ['action', 'action'], ['reason', 'reason'], ['related', 'related'], ['type', 'type'],
];

function renamed(o: KObject, apiVersion: string, pairs: Array<[string, string]>): KObject {
  const out: KObject = { apiVersion, kind: 'Event', metadata: o.metadata };
  for (const [from, to] of pairs) if (o[from] !== undefined) out[to] = o[from];
  return out;
}

/** events.k8s.io/v1 → core/v1, the shape both are stored in. */
export const eventsV1ToCore = (o: KObject): KObject => {
  const c = renamed(o, 'v1', V1_TO_CORE);
  if (c.involvedObject === undefined) c.involvedObject = {};
  return c;
};
/** core/v1 → events.k8s.io/v1. */
export const coreToEventsV1 = (o: KObject): KObject =>
  renamed(o, 'events.k8s.io/v1', V1_TO_CORE.map(([a, b]) => [b, a] as [string, string]));

export const events: ResourceType = {
  group: '', version: 'v1', kind: 'Event', plural: 'events', singular: 'event', shortNames: ['ev'],
  namespaced: true, model: 'CoreV1Event',
  fieldSelectors: eventFieldSelectors(fromCore),
  table: { columns: eventColumns, row: (o, now) => eventRow(fromCore(o), now) },
  validateCreate: (o) => legacyValidate(fromCore(o), 'reportingComponent'),
  validateUpdate: (o) => legacyValidate(fromCore(o), 'reportingComponent'),
};

export const eventsV1: ResourceType = {
  group: 'events.k8s.io', version: 'v1', kind: 'Event', plural: 'events', singular: 'event', shortNames: ['ev'],
  namespaced: true, model: 'EventsV1Event',
  // One storage for both Event APIs, as upstream: `kubectl get events` shows events.k8s.io events.
  storedAs: { group: '', plural: 'events', toStorage: eventsV1ToCore, fromStorage: coreToEventsV1 },
  fieldSelectors: eventFieldSelectors(fromEventsV1),
  table: { columns: eventColumns, row: (o, now) => eventRow(fromEventsV1(o), now) },
  validateCreate(o) {
    const e = fromEventsV1(o);
    return [...legacyValidate(e, 'reportingController'), ...strictValidateCreate(e)];
  },
  validateUpdate(o, old) {
    const e = fromEventsV1(o);
    return [...legacyValidate(e, 'reportingController'), ...strictValidateUpdate(e, fromEventsV1(old))];
  },
};
