// The JavaScript side of native/udpbatch: a UDP socket whose datagrams arrive in batches
// (recvmmsg) in a buffer shared with C, are answered in place, and leave in one sendmmsg.
// Node's dgram costs a recvmsg, a sendmsg and a JS event per datagram, which is most of what a
// cached DNS answer costs; batching is how NSD and Knot reach their rates on one core.
//
// The addon is optional: loadUdpBatch() says why it is not there, and the DNS server then
// uses node:dgram (see server.ts).

import { loadNativeAddon } from '../net/native.js';

interface Addon {
  open(host: string, port: number, recvBufferSize: number, slots: number, onBatch: (count: number) => void):
    { handle: unknown; shared: ArrayBuffer; address: string; port: number; family: 'IPv4' | 'IPv6' };
  send(handle: unknown, data: Uint8Array, peer: Uint8Array): number;
  sendTo(handle: unknown, data: Uint8Array, host: string, port: number): number;
  close(handle: unknown): void;
  layout: { slotSize: number; peerSize: number; metaInts: number; maxSlots: number };
}

/** The addon, or undefined (the reason in udpBatchUnavailable()) when it is not built or does not load. */
export function loadUdpBatch(): Addon | undefined {
  return loadNativeAddon<Addon>('udpbatch').addon;
}

export const udpBatchUnavailable = (): string => loadNativeAddon<Addon>('udpbatch').problem;

/**
 * One bound UDP socket read and written in batches. `onBatch(count)` runs once per recvmmsg:
 * slots 0..count-1 hold datagrams; whatever it writes with answer() leaves when it returns.
 */
export class BatchSocket {
  /** Bytes per slot, both ways: a longer datagram arrives cut (see datagramLength). */
  readonly slotSize: number;
  readonly slots: number;
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
  private readonly handle: unknown;
  private readonly meta: Int32Array;
  private readonly peers: Buffer;
  private readonly peerSize: number;
  /** All receive slots, one after the other. */
  readonly rx: Buffer;
  /** All answer slots, one after the other. */
  readonly tx: Buffer;
  private closed = false;

  /** Binds `host` (an IP literal; '::' is dual-stack) and starts reading; throws Node-style errors (`code`: EADDRINUSE, …). */
  constructor(host: string, port: number, opts: { recvBufferSize: number; slots: number }, onBatch: (sock: BatchSocket, count: number) => void) {
    const a = loadUdpBatch();
    if (!a) throw new Error(`udpbatch: ${udpBatchUnavailable()}`);
    const { slotSize, peerSize, metaInts } = a.layout;
    if (metaInts !== 4 || peerSize < 28 || slotSize < 4096) throw new Error('udpbatch: the addon\'s buffer layout is not the one this code reads; rebuild it');
    this.slots = Math.max(1, Math.min(a.layout.maxSlots, Math.floor(opts.slots)));
    this.slotSize = slotSize;
    const opened = a.open(host, port, opts.recvBufferSize, this.slots, (count) => onBatch(this, count));
    this.handle = opened.handle;
    this.address = opened.address;
    this.port = opened.port;
    this.family = opened.family;
    const metaBytes = this.slots * metaInts * 4;
    this.meta = new Int32Array(opened.shared, 0, this.slots * metaInts);
    this.peers = Buffer.from(opened.shared, metaBytes, this.slots * peerSize);
    this.rx = Buffer.from(opened.shared, metaBytes + this.slots * peerSize, this.slots * slotSize);
    this.tx = Buffer.from(opened.shared, metaBytes + this.slots * (peerSize + slotSize), this.slots * slotSize);
    this.peerSize = peerSize;
  }

  /** The datagram's real length; more than slotSize when it was cut to the slot. */
  datagramLength(slot: number): number { return this.meta[slot * 4]; }

  /** 1 for an IPv4 sender, 2 for IPv6 (a v4-mapped sender on a dual-stack socket is IPv6, as dgram says). */
  peerFamily(slot: number): 1 | 2 { return this.meta[slot * 4 + 1] === 6 ? 2 : 1; }

  /** The datagram in a slot, without copying: valid only until onBatch returns. */
  datagram(slot: number): Buffer {
    const start = slot * this.slotSize;
    return this.rx.subarray(start, start + Math.min(this.slotSize, this.meta[slot * 4]));
  }

  /** A copy of the sender's address, for an answer sent later with send(). */
  peer(slot: number): Buffer {
    const start = slot * this.peerSize;
    return Buffer.from(this.peers.subarray(start, start + Math.max(0, Math.min(this.peerSize, this.meta[slot * 4 + 2]))));
  }

  /** Marks `length` bytes at tx[slot * slotSize] as the slot's answer (sent after onBatch returns). */
  answer(slot: number, length: number): void {
    if (length > 0 && length <= this.slotSize) this.meta[slot * 4 + 3] = length;
  }

  /** Sends now to a peer() copy; 0 or the errno (a lost datagram, which the client retries). */
  send(data: Uint8Array, peer: Uint8Array): number {
    if (this.closed) return 9; // EBADF
    return loadUdpBatch()!.send(this.handle, data, peer);
  }

  /** Sends now to an IP literal and port; 0 or the errno. */
  sendTo(data: Uint8Array, host: string, port: number): number {
    if (this.closed) return 9;
    return loadUdpBatch()!.sendTo(this.handle, data, host, port);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    loadUdpBatch()!.close(this.handle);
  }
}
