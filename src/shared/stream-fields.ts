/**
 * The one reading of a Redis stream entry's flat field list `[name, value, name, value, …]`.
 * Names sit at even positions only: a value that happens to equal a name (a log line that
 * reads `pos`) is never taken for one.
 */
export function streamField(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** The version an entry of a per-record stream stands for: its id is `<version>-0`. */
export function streamVersion(streamId: string): number {
  return Number(streamId.split('-')[0]);
}
