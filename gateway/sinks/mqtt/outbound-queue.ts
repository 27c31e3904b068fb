import type { Logger } from '../../observability/logger.ts';
import type { MqttMetrics } from './metrics.ts';
import type { DiskFullReport } from '../../spool/segment-log.ts';
import { Spool, type SpoolPosition } from './spool.ts';

/*
 * The outbound queue: every message the sink publishes, in publish order, until the broker
 * acknowledges it.
 *
 * Each message gets a sequence number when queued; delivery order is seq order. Messages
 * live in one of four places, always oldest to newest:
 *
 *   in flight  →  front (in memory)  →  spool records not read back yet  →  tail (in memory)
 *
 * Invariant: every message held only in memory is newer than every message on disk. A spill
 * therefore writes ALL memory-only messages (in flight included) to the end of the spool, in
 * seq order; those in flight stay in memory as the already-read prefix of what was written (their
 * PUBACK is still to come), the others leave memory and are read back in order later. New
 * messages go to `front` while nothing on disk is waiting, else to `tail`.
 *
 * Retained messages are coalesced per topic: only the newest one queued for a topic is sent
 * (state topics carry the latest value, not a history).
 *
 * Events first: while nothing on disk is waiting, a message that is not retained (activity,
 * reps, command responses) goes to `urgent`, which `next` serves before `front`, so an event
 * does not wait behind a hop's worth of state updates for every subject. A topic's messages
 * all share one lane (a topic is always retained or never), so each topic keeps its order.
 * A backlog from disk goes first, and while one is on disk everything keeps seq order. The delivered mark stays correct (it
 * is the lowest seq still pending); an event acknowledged ahead of older state that is then
 * spilled and interrupted by a crash may be sent once more (at least once, as always).
 */

export interface OutboundMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly kind: string;
  /** When the gateway queued it (its clock, ns); absent for messages restored from the spool. */
  readonly queuedAtNs?: number;
}

export interface QueueItem extends OutboundMessage {
  readonly seq: number;
  /** Where this message is on disk, once spilled. */
  position: SpoolPosition | undefined;
  superseded: boolean;
}

export interface OutboundQueueOptions {
  readonly spoolDir: string;
  /** Memory-only messages held before everything is spilled to disk. */
  readonly memoryMessages: number;
  readonly maxSpoolBytes: number;
  readonly segmentBytes: number;
  readonly logger: Logger;
  readonly metrics: MqttMetrics;
  /** The disk under the spool refused a write, or accepts them again. */
  readonly onDiskFull?: (report: DiskFullReport) => void;
}

/** A FIFO with O(1) shift. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(item: T): void {
    this.items.push(item);
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
  /** Puts `item` back in seq order; returned items are older than nearly everything here. */
  insertOrdered(item: T, seqOf: (t: T) => number): void {
    let i = this.head;
    while (i < this.items.length && seqOf(this.items[i]!) < seqOf(item)) i++;
    if (i === this.head && this.head > 0) this.items[--this.head] = item;
    else this.items.splice(i, 0, item);
  }
  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }
  drain(): T[] {
    const out = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }
  values(): T[] {
    return this.items.slice(this.head);
  }
}

export class OutboundQueue {
  private readonly spool: Spool;
  private front = new Fifo<QueueItem>();
  private tail = new Fifo<QueueItem>();
  /** Memory-only messages that are not retained, served before `front` (see above). */
  private urgent = new Fifo<QueueItem>();
  /**
   * `front` holds memory-only events moved there from `tail` after a backlog: until it is
   * empty, new events queue behind them instead of overtaking them in `urgent`.
   */
  private frontHoldsEvents = false;
  private readonly inFlight = new Set<QueueItem>();
  /** Newest queued seq per retained topic. */
  private latestRetained = new Map<string, number>();
  /** The memory-only item holding that newest seq, so it can be superseded in place. */
  private readonly retainedInMemory = new Map<string, QueueItem>();
  private nextSeq = 1;
  /** Highest seq acknowledged or skipped, for the delivered mark. */
  private maxDoneSeq = 0;
  private total = 0;
  private memoryOnly = 0;
  private readonly loadBatch: number;

  constructor(private readonly opts: OutboundQueueOptions) {
    this.spool = new Spool({
      dir: opts.spoolDir,
      maxBytes: opts.maxSpoolBytes,
      segmentBytes: Math.max(4096, Math.min(opts.segmentBytes, Math.floor(opts.maxSpoolBytes / 4))),
      logger: opts.logger,
      metrics: opts.metrics,
      onLost: (n) => {
        this.total -= n;
        this.updateGauges();
      },
      ...(opts.onDiskFull ? { onDiskFull: opts.onDiskFull } : {}),
    });
    this.loadBatch = Math.max(1, Math.min(opts.memoryMessages, 1000));
  }

  /** Messages not yet acknowledged (memory + disk). */
  get size(): number {
    return this.total;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  get memoryOnlyCount(): number {
    return this.memoryOnly;
  }

  get spoolBytes(): number {
    return this.spool.bytes;
  }

  get spoolSegments(): string[] {
    return this.spool.segmentNames();
  }

  /** Reads what a previous run spooled; it is delivered before anything queued now. */
  open(): { restored: number } {
    const scan = this.spool.open();
    this.nextSeq = scan.maxSeq + 1;
    this.latestRetained = scan.latestRetained;
    this.total = scan.records;
    this.updateGauges();
    if (scan.records > 0) {
      this.opts.logger.info(
        { messages: scan.records, bytes: this.spool.bytes },
        'restored spooled MQTT messages from a previous run',
      );
    }
    return { restored: scan.records };
  }

  push(message: OutboundMessage): QueueItem {
    const item: QueueItem = { ...message, seq: this.nextSeq++, position: undefined, superseded: false };
    if (message.retain) {
      const older = this.retainedInMemory.get(message.topic);
      if (older && !older.superseded && !this.inFlight.has(older) && older.position === undefined) {
        older.superseded = true;
        this.total--;
        this.memoryOnly--;
        this.opts.metrics.coalesced.inc();
      }
      this.latestRetained.set(message.topic, item.seq);
      this.retainedInMemory.set(message.topic, item);
    }
    if (this.tail.length === 0 && !this.spool.hasUnread())
      (message.retain || this.frontHoldsEvents ? this.front : this.urgent).push(item);
    else this.tail.push(item);
    this.total++;
    this.memoryOnly++;
    if (this.memoryOnly > this.opts.memoryMessages) this.spill();
    this.updateGauges();
    return item;
  }

  /** The oldest message not in flight, now in flight; undefined when there is none. */
  next(): QueueItem | undefined {
    for (;;) {
      if (this.frontHoldsEvents && this.front.length === 0) this.frontHoldsEvents = false;
      // Messages read back from disk (a backlog from an outage or a previous run) are older
      // than anything in memory and keep their place ahead of events.
      const restored = this.front.peek()?.position !== undefined;
      const first = restored || this.frontHoldsEvents ? undefined : this.urgent.shift();
      if (first) {
        if (first.superseded) continue; // shed for a full disk
        this.inFlight.add(first);
        this.updateGauges();
        return first;
      }
      const item = this.front.shift();
      if (!item) {
        if (this.spool.hasUnread()) {
          for (const { record, position } of this.spool.read(this.loadBatch)) {
            this.front.push({ ...record, position, superseded: false });
          }
          // A corrupt tail can leave nothing read back; loop to look again.
          continue;
        }
        if (this.tail.length === 0) return undefined;
        this.front = this.tail;
        this.tail = new Fifo<QueueItem>();
        // Events queued in seq order behind the backlog: later events must not overtake them.
        this.frontHoldsEvents = this.front.values().some((i) => !i.retain && !i.superseded);
        continue;
      }
      if (item.superseded) continue; // already uncounted when superseded
      if (item.retain && (this.latestRetained.get(item.topic) ?? item.seq) > item.seq) {
        // Superseded on disk, or superseded while it was spilled.
        this.forget(item);
        this.opts.metrics.coalesced.inc();
        continue;
      }
      this.inFlight.add(item);
      this.updateGauges();
      return item;
    }
  }

  /** The broker has it (or it was rejected and is dropped on purpose). */
  ack(item: QueueItem): void {
    if (!this.inFlight.delete(item)) return;
    this.forget(item);
    this.updateGauges();
  }

  /** Delivery failed with the connection: it goes back, in order, for the next attempt. */
  requeue(item: QueueItem): void {
    if (!this.inFlight.delete(item)) return;
    const lane =
      !item.retain && item.position === undefined && !this.spool.hasUnread() && !this.frontHoldsEvents
        ? this.urgent
        : this.front;
    lane.insertOrdered(item, (i) => i.seq);
  }

  /**
   * Writes every memory-only message to disk (see the invariant above) and frees the memory
   * of all but those in flight, which stay as the already-read prefix of the new records.
   */
  spill(): void {
    const inFlight = [...this.inFlight].filter((i) => i.position === undefined).sort((a, b) => a.seq - b.seq);
    const queued = this.front.values().filter((i) => i.position === undefined && !i.superseded);
    const urgent = this.urgent.values().filter((i) => !i.superseded);
    const toDisk = [
      ...inFlight,
      ...(urgent.length > 0 ? [...queued, ...urgent].sort((a, b) => a.seq - b.seq) : queued),
      ...this.tail.values().filter((i) => !i.superseded),
    ];
    const placed = toDisk.length > 0 ? this.spool.append(toDisk) : [];
    if (!placed) {
      // The disk refuses (full): everything stays in memory, the oldest beyond the bound go.
      this.shedMemory();
      this.updateGauges();
      return;
    }
    const front = this.front.drain();
    this.tail.drain();
    this.urgent.drain();
    this.frontHoldsEvents = false; // memory-only messages are on disk now, in seq order
    // Disk-backed items already read back stay; they are older than anything spilled now.
    for (const item of front) if (item.position !== undefined) this.front.push(item);
    this.memoryOnly = 0;
    if (toDisk.length > 0) {
      for (let i = 0; i < inFlight.length; i++) {
        inFlight[i]!.position = placed[i]!;
        this.spool.markRead(placed[i]!);
      }
      for (const item of toDisk)
        if (this.retainedInMemory.get(item.topic) === item) this.retainedInMemory.delete(item.topic);
    }
    this.updateGauges();
  }

  /** Whether a message held only in memory (not on disk) has a seq at or below `seq`. */
  hasMemoryOnlyAtOrBelow(seq: number): boolean {
    if (this.memoryOnly === 0) return false;
    for (const i of this.inFlight) if (i.position === undefined && i.seq <= seq) return true;
    const event = this.urgent.values().find((i) => !i.superseded);
    if (event !== undefined && event.seq <= seq) return true;
    for (const i of this.front.values()) if (i.position === undefined && !i.superseded) return i.seq <= seq;
    const head = this.tail.values().find((i) => !i.superseded);
    return head !== undefined && head.seq <= seq;
  }

  /** Highest seq handed out so far. */
  get lastSeq(): number {
    return this.nextSeq - 1;
  }

  /** fdatasync the spool's open segment. */
  sync(): void {
    this.spool.sync();
  }

  /**
   * With the disk refusing writes, memory is the only store: past `memoryMessages`, the
   * oldest memory-only messages not in flight go (a tenth of the bound at once, so this runs
   * rarely), counted as dropped for disk_full. The newest state of a retained topic stays.
   */
  private shedMemory(): void {
    if (this.memoryOnly <= this.opts.memoryMessages) return;
    let excess = this.memoryOnly - Math.floor(this.opts.memoryMessages * 0.9);
    let dropped = 0;
    for (const item of [...this.front.values(), ...this.urgent.values(), ...this.tail.values()]) {
      if (excess <= 0) break;
      if (item.position !== undefined || item.superseded) continue;
      if (item.retain && this.retainedInMemory.get(item.topic) === item) continue;
      item.superseded = true; // skipped by next() and spill(), like a coalesced message
      this.total--;
      this.memoryOnly--;
      excess--;
      dropped++;
    }
    if (dropped > 0) {
      this.opts.metrics.evicted.inc(dropped);
      this.opts.metrics.dropped.inc({ reason: 'disk_full' }, dropped);
    }
  }

  /** fsync and close the spool; memory-only messages must be spilled first to survive. */
  close(): void {
    this.spool.markDelivered(this.deliveredMark(), true);
    this.spool.close();
  }

  /**
   * Every seq at or below this is done: in flight and `front` hold the oldest pending
   * messages, and anything on disk not read back yet or in `tail` is newer than them.
   */
  private deliveredMark(): number {
    let lowest = Infinity;
    for (const i of this.inFlight) lowest = Math.min(lowest, i.seq);
    const head = this.front.peek();
    if (head) lowest = Math.min(lowest, head.seq);
    const event = this.urgent.peek();
    if (event) lowest = Math.min(lowest, event.seq);
    return lowest === Infinity ? this.maxDoneSeq : lowest - 1;
  }

  private forget(item: QueueItem): void {
    this.total--;
    this.maxDoneSeq = Math.max(this.maxDoneSeq, item.seq);
    if (item.position) {
      this.spool.ack(item.position);
      this.spool.markDelivered(this.deliveredMark());
    } else {
      this.memoryOnly--;
    }
    if (this.retainedInMemory.get(item.topic) === item) this.retainedInMemory.delete(item.topic);
  }

  private updateGauges(): void {
    this.opts.metrics.queued.set(this.total);
    this.opts.metrics.queuedInMemory.set(this.memoryOnly);
  }
}
