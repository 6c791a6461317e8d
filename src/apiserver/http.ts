// HTTP plumbing shared by the API server's handlers: bounded body reading, content
// negotiation (JSON, YAML, Table, PartialObjectMetadata, aggregated discovery) and writing
// Status errors.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzip } from 'node:zlib';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { errBadRequest, errInternal, errTooLarge, errUnsupportedMediaType, StatusError } from '../api/errors.js';
import { decodeKubernetesProtobuf } from './protobuf.js';

/** kube-apiserver's limit on request bodies. */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;
/** Nesting deeper than this is refused before parsing (no API object comes close). */
export const MAX_DEPTH = 1000;

export interface MediaRange { type: string; params: Record<string, string> }

/** Parses an Accept header into media ranges, in the order given. */
export function parseAccept(h: string | undefined): MediaRange[] {
  if (!h) return [];
  return h.split(',').map((part) => {
    const [type, ...ps] = part.split(';').map((s) => s.trim());
    const params: Record<string, string> = {};
    for (const p of ps) {
      const i = p.indexOf('=');
      if (i > 0) params[p.slice(0, i).trim()] = p.slice(i + 1).trim().replace(/^"|"$/g, '');
    }
    return { type: type.toLowerCase(), params };
  }).filter((m) => m.type);
}

export type ResponseShape =
  | { kind: 'json' } | { kind: 'yaml' }
  | { kind: 'table'; version: 'v1' | 'v1beta1' }
  | { kind: 'partial'; list: boolean; version: 'v1' | 'v1beta1' };

const jsonLike = (t: string) => t === 'application/json' || t === 'application/*' || t === '*/*' || t === '';

/**
 * The response shape the client asked for. kubectl get asks for Table first and JSON as a
 * fallback; protobuf-first clients always list JSON too.
 */
export function negotiate(accept: MediaRange[], allowTable: boolean): ResponseShape | undefined {
  if (!accept.length) return { kind: 'json' };
  for (const m of accept) {
    const as = m.params.as;
    if (as) {
      if (m.params.g !== 'meta.k8s.io' || !jsonLike(m.type)) continue;
      const version = m.params.v === 'v1beta1' ? 'v1beta1' : m.params.v === 'v1' ? 'v1' : undefined;
      if (!version) continue;
      if (as === 'Table' && allowTable) return { kind: 'table', version };
      if (as === 'PartialObjectMetadata') return { kind: 'partial', list: false, version };
      if (as === 'PartialObjectMetadataList') return { kind: 'partial', list: true, version };
      continue;
    }
    if (jsonLike(m.type)) return { kind: 'json' };
    if (m.type === 'application/yaml') return { kind: 'yaml' };
  }
  return undefined;
}

/** Reads the body, refusing more than MAX_BODY_BYTES with 413 as soon as it is exceeded. */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const len = Number(req.headers['content-length'] ?? 0);
    if (len > MAX_BODY_BYTES) {
      req.resume();
      reject(errTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      total += c.length;
      if (total > MAX_BODY_BYTES) {
        failed = true;
        reject(errTooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => { if (!failed) resolve(Buffer.concat(chunks)); });
    req.on('error', (e) => { if (!failed) { failed = true; reject(e); } });
  });
}

/** Checks bracket nesting without parsing, so a hostile body can't exhaust the stack later. */
export function checkDepth(text: string, max = MAX_DEPTH): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped char
      else if (c === 34) inString = false;
      continue;
    }
    if (c === 34) inString = true;
    else if (c === 123 || c === 91) { if (++depth > max) throw errBadRequest(`the request body is nested more than ${max} levels deep`); }
    else if (c === 125 || c === 93) depth--;
  }
}

/** Parses a request body by its Content-Type (JSON or YAML; patch types are JSON). */
export function parseBody(buf: Buffer, contentType: string | undefined): unknown {
  const type = (contentType ?? 'application/json').split(';')[0].trim().toLowerCase();
  if (type === 'application/vnd.kubernetes.protobuf') {
    // kubectl's typed `create` commands send protobuf; everything else speaks JSON.
    try {
      return decodeKubernetesProtobuf(buf);
    } catch (e) {
      throw errBadRequest(`error decoding protobuf body: ${(e as Error).message}`);
    }
  }
  const text = buf.toString('utf8');
  const yamlType = type === 'application/yaml' || type === 'application/apply-patch+yaml' || type === 'text/yaml';
  if (!yamlType && !type.endsWith('json') && type !== '') {
    throw errUnsupportedMediaType(`the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`);
  }
  if (!text.trim()) throw errBadRequest('the request body is empty');
  checkDepth(text);
  try {
    if (yamlType) return parseYaml(text, { maxAliasCount: 100, uniqueKeys: false });
    return JSON.parse(text);
  } catch (e) {
    throw errBadRequest(`error decoding ${yamlType ? 'YAML' : 'JSON'}: ${(e as Error).message.split('\n')[0]}`);
  }
}

export function writeJson(res: ServerResponse, code: number, body: unknown, contentType = 'application/json', warnings: string[] = []): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string | string[]> = {
    'Content-Type': contentType,
    'Cache-Control': 'no-cache, private',
    'Content-Length': String(Buffer.byteLength(text)),
  };
  if (warnings.length) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  res.writeHead(code, headers);
  res.end(text);
}

export function writeShaped(res: ServerResponse, code: number, body: unknown, shape: ResponseShape | undefined, warnings: string[] = []): void {
  if (shape?.kind === 'yaml') {
    const text = stringifyYaml(typeof body === 'string' ? JSON.parse(body) : body);
    const headers: Record<string, string | string[]> = { 'Content-Type': 'application/yaml', 'Content-Length': String(Buffer.byteLength(text)) };
    if (warnings.length) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
    res.writeHead(code, headers);
    res.end(text);
    return;
  }
  let ct = 'application/json';
  if (shape?.kind === 'table') ct = `application/json;as=Table;v=${shape.version};g=meta.k8s.io`;
  writeJson(res, code, body, ct, warnings);
}

export function writeError(res: ServerResponse, err: unknown): number {
  const se = err instanceof StatusError ? err : errInternal(err instanceof Error ? err.message : String(err));
  if (!res.headersSent) writeJson(res, se.code, se.status);
  else res.destroy();
  return se.code;
}

/** Responses at least this large are gzipped for clients that accept it (kube-apiserver's threshold). */
export const GZIP_MIN_BYTES = 128 * 1024;
/** zlib level: kube-apiserver compresses for speed, not size. */
export const GZIP_LEVEL = 1;

export function acceptsGzip(req: IncomingMessage): boolean {
  const h = req.headers['accept-encoding'];
  return typeof h === 'string' && /(^|,)\s*gzip\s*(;\s*q=(?!0(\.0*)?\s*($|,))[0-9.]+)?\s*($|,)/i.test(h);
}

/**
 * Sends a complete body, gzipped (off the main thread) when it is large and the client takes
 * gzip, as kube-apiserver does; client-go, and so kubectl, always asks for it.
 */
export async function sendBody(req: IncomingMessage, res: ServerResponse, code: number, contentType: string,
                               body: Buffer | string, extra: Record<string, string> = {}): Promise<void> {
  const buf = typeof body === 'string' ? Buffer.from(body) : body;
  const headers: Record<string, string> = { 'Content-Type': contentType, 'Cache-Control': 'no-cache, private', ...extra };
  if (buf.length >= GZIP_MIN_BYTES && acceptsGzip(req)) {
    const z = await new Promise<Buffer>((resolve, reject) => gzip(buf, { level: GZIP_LEVEL }, (e, out) => (e ? reject(e) : resolve(out))));
    headers['Content-Encoding'] = 'gzip';
    headers['Content-Length'] = String(z.length);
    res.writeHead(code, headers);
    res.end(z);
    return;
  }
  headers['Content-Length'] = String(buf.length);
  res.writeHead(code, headers);
  res.end(buf);
}
