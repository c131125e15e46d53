import { Command, CommanderError } from 'commander';
import { ConflictError, InputError, NotFoundError, WaitError } from '../shared/errors.js';
import { ReapqClient } from '../producer/client.js';
import { VERSION } from '../shared/version.js';
import { registerOpsCommands } from './ops.js';
import { cliRedis, isConnectionError, RedisUnreachableError } from './redis-target.js';
import { registerProcessCommands } from './processes.js';

/** Exit codes of the public contract: 0 done, 1 the operation failed, 2 bad input. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof InputError) return 2;
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  if (err instanceof NotFoundError || err instanceof WaitError || err instanceof ConflictError) return 1;
  return 1;
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('reapq')
    .description('process runner that stops whole trees and leaves no orphan or zombie behind')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(s.split('\n')[0] + '\n') })
    .showSuggestionAfterError(true);
  const withClient = async <T,>(fn: (c: ReapqClient) => Promise<T>): Promise<T> => {
    const target = cliRedis(process.env, process.cwd());
    const client = new ReapqClient(target.options);
    let lastConnectionError: Error | undefined;
    client.connection.on('error', (e: Error) => (lastConnectionError = e));
    try {
      return await fn(client);
    } catch (err) {
      throw isConnectionError(err) ? new RedisUnreachableError(target, err, lastConnectionError) : err;
    } finally {
      await client.close().catch(() => undefined);
    }
  };
  registerProcessCommands(program, withClient);
  registerOpsCommands(program, withClient);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return exitCodeOf(err); // commander already printed its line
    process.stderr.write(`reapq: ${oneLine(err)}\n`);
    return exitCodeOf(err);
  }
}

function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0] ?? msg;
}
