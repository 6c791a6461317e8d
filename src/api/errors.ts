// Field errors and Status bodies, shaped as k8s.io/apimachinery's field.Error and
// metav1.Status so that kubectl prints them exactly as it prints a real cluster's.

export type FieldErrorType =
  | 'FieldValueRequired'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueDuplicate'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueTooMany'
  | 'FieldValueNotFound'
  | 'FieldValueTypeInvalid';

export interface FieldError {
  type: FieldErrorType;
  /** Field path in upstream notation: `spec.ports[0].port`, `metadata.labels`. */
  field: string;
  /** The offending value, when the message shows one. */
  value?: unknown;
  /** Human detail after the value, e.g. "must be between 1 and 65535, inclusive". */
  detail?: string;
}

/** Renders a value the way field.Error does (strings quoted, numbers bare). */
function showValue(v: unknown): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null) return 'null';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** The text after "<field>: ", as upstream's ErrorBody(). */
export function fieldErrorBody(e: FieldError): string {
  const d = e.detail ?? '';
  switch (e.type) {
    case 'FieldValueRequired':
      return d ? `Required value: ${d}` : 'Required value';
    case 'FieldValueForbidden':
      return d ? `Forbidden: ${d}` : 'Forbidden';
    case 'FieldValueTooLong':
      return d ? `Too long: ${d}` : 'Too long';
    case 'FieldValueTooMany':
      return d ? `Too many: ${d}` : 'Too many';
    case 'FieldValueNotFound':
      return `Not found: ${showValue(e.value)}`;
    case 'FieldValueDuplicate':
      return `Duplicate value: ${showValue(e.value)}`;
    case 'FieldValueNotSupported':
      return `Unsupported value: ${showValue(e.value)}${d ? `: ${d}` : ''}`;
    case 'FieldValueTypeInvalid':
      return `Invalid value: ${showValue(e.value)}${d ? `: ${d}` : ''}`;
    case 'FieldValueInvalid':
    default:
      return `Invalid value: ${showValue(e.value)}${d ? `: ${d}` : ''}`;
  }
}

export function fieldErrorString(e: FieldError): string {
  return `${e.field}: ${fieldErrorBody(e)}`;
}

// Small constructors so validation code reads like upstream's field.Required(...) etc.
export const required = (field: string, detail = ''): FieldError => ({ type: 'FieldValueRequired', field, detail });
export const invalid = (field: string, value: unknown, detail = ''): FieldError => ({ type: 'FieldValueInvalid', field, value, detail });
export const forbidden = (field: string, detail: string): FieldError => ({ type: 'FieldValueForbidden', field, detail });
export const duplicate = (field: string, value: unknown): FieldError => ({ type: 'FieldValueDuplicate', field, value });
export const notFound = (field: string, value: unknown): FieldError => ({ type: 'FieldValueNotFound', field, value });
export const tooLong = (field: string, max: number): FieldError => ({
  type: 'FieldValueTooLong', field, detail: `may not be more than ${max} bytes`,
});
export const tooMany = (field: string, actual: number, max: number): FieldError => ({
  type: 'FieldValueTooMany', field, detail: `must have at most ${max} items`, value: actual,
});
export function notSupported(field: string, value: unknown, supported: readonly string[]): FieldError {
  const detail = supported.length ? `supported values: ${supported.map((s) => JSON.stringify(s)).join(', ')}` : '';
  return { type: 'FieldValueNotSupported', field, value, detail };
}

// ---- metav1.Status -------------------------------------------------------------------

export type StatusReason =
  | 'BadRequest' | 'Unauthorized' | 'Forbidden' | 'NotFound' | 'AlreadyExists' | 'Conflict'
  | 'Gone' | 'Invalid' | 'ServerTimeout' | 'Timeout' | 'TooManyRequests' | 'MethodNotAllowed'
  | 'NotAcceptable' | 'RequestEntityTooLarge' | 'UnsupportedMediaType' | 'InternalError' | 'Expired' | '';

export interface StatusCause { reason?: string; message?: string; field?: string }
export interface StatusDetails {
  name?: string; group?: string; kind?: string; uid?: string;
  causes?: StatusCause[]; retryAfterSeconds?: number;
}
export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: { resourceVersion?: string; continue?: string };
  status: 'Success' | 'Failure';
  message?: string;
  reason?: StatusReason;
  details?: StatusDetails;
  code: number;
}

/** An error that carries a Status body; handlers throw these and the server writes them. */
export class StatusError extends Error {
  readonly status: Status;
  constructor(status: Status) {
    super(status.message ?? status.reason ?? 'error');
    this.status = status;
  }
  get code(): number { return this.status.code; }
  get reason(): StatusReason | undefined { return this.status.reason; }
}

/** A Failure Status as an error: for reasons without a named constructor below. */
export function failure(code: number, reason: StatusReason, message: string, details?: StatusDetails): StatusError {
  const s: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details) s.details = details;
  return new StatusError(s);
}

/** Qualified resource as upstream prints it: `pods`, `deployments.apps`. */
export interface QualifiedResource { group: string; resource: string }
const qr = (r: QualifiedResource) => (r.group ? `${r.resource}.${r.group}` : r.resource);

export const errNotFound = (r: QualifiedResource, name: string) =>
  failure(404, 'NotFound', `${qr(r)} "${name}" not found`, { name, group: r.group || undefined, kind: r.resource });

export const errAlreadyExists = (r: QualifiedResource, name: string) =>
  failure(409, 'AlreadyExists', `${qr(r)} "${name}" already exists`, { name, group: r.group || undefined, kind: r.resource });

export const errConflict = (r: QualifiedResource, name: string, detail: string) =>
  failure(409, 'Conflict', `Operation cannot be fulfilled on ${qr(r)} "${name}": ${detail}`, {
    name, group: r.group || undefined, kind: r.resource,
  });

export const errBadRequest = (message: string) => failure(400, 'BadRequest', message);
export const errUnauthorized = () => failure(401, 'Unauthorized', 'Unauthorized');
export const errForbidden = (message: string) => failure(403, 'Forbidden', message);
export const errMethodNotAllowed = (message: string) => failure(405, 'MethodNotAllowed', message);
export const errNotAcceptable = (message: string) => failure(406, 'NotAcceptable', message);
export const errUnsupportedMediaType = (message: string) => failure(415, 'UnsupportedMediaType', message);
export const errTooLarge = (message = 'Request entity too large: limit is 3145728') =>
  failure(413, 'RequestEntityTooLarge', message);
export const errGone = (message: string) => failure(410, 'Expired', message);
export const errInternal = (message: string) => failure(500, 'InternalError', `Internal error occurred: ${message}`);
export const errTooManyRequests = (message: string, retryAfterSeconds = 1) =>
  failure(429, 'TooManyRequests', message, { retryAfterSeconds });
export const errTimeout = (message: string) => failure(504, 'Timeout', message);

/**
 * 422 Invalid, as apierrors.NewInvalid: `Kind "name" is invalid: [err1, err2]`
 * (brackets only when there is more than one error).
 */
export function errInvalid(kind: string, group: string, name: string, errs: FieldError[]): StatusError {
  const texts = errs.map(fieldErrorString);
  const agg = texts.length === 1 ? texts[0] : `[${texts.join(', ')}]`;
  return failure(422, 'Invalid', `${kind}${group ? `.${group}` : ''} "${name}" is invalid: ${agg}`, {
    name, group: group || undefined, kind,
    causes: errs.map((e) => ({ reason: e.type, message: fieldErrorBody(e), field: e.field })),
  });
}

export function successStatus(details?: StatusDetails): Status {
  const s: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200 };
  if (details) s.details = details;
  return s;
}
