/**
 * Gathers what callers hand in during one turn of the event loop, per key, and sends each
 * key's items at once: many callers awaiting replies that arrive together (a backend's
 * burst of starts) then share one send. Each caller's promise settles with its batch's send.
 * A batch is sent early once it holds `max` items.
 */
export class Coalescer<T> {
  private readonly open = new Map<string, { items: T[]; sent: Promise<void>; send: () => void }>();

  constructor(
    private readonly sendBatch: (key: string, items: T[]) => Promise<void>,
    private readonly max: number,
  ) {}

  add(key: string, item: T): Promise<void> {
    let batch = this.open.get(key);
    if (!batch) batch = this.begin(key);
    batch.items.push(item);
    const { sent } = batch;
    if (batch.items.length >= this.max) batch.send();
    return sent;
  }

  private begin(key: string) {
    const items: T[] = [];
    let go!: () => void;
    const ready = new Promise<void>((res) => (go = res));
    const send = () => {
      // Closed for new items before it goes: later ones start the next batch.
      if (this.open.get(key)?.items === items) this.open.delete(key);
      go();
    };
    const sent = ready.then(() => this.sendBatch(key, items));
    const batch = { items, sent, send };
    this.open.set(key, batch);
    // After this turn's I/O callbacks: every reply read in the same turn joins the batch.
    setImmediate(send);
    return batch;
  }
}
