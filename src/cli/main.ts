import { Command, CommanderError } from 'commander';
import { InputError, oneLine } from '../shared/errors.js';
import type { ReapqClient } from '../producer/client.js';
import { VERSION } from '../shared/version.js';
import { registerOpsCommands } from './ops.js';
import { registerTopCommand } from './top.js';
import { registerStartupCommand } from './startup.js';
import { cliRedis, isConnectionError, RedisUnreachableError, type CliRedis } from './redis-target.js';
import { registerContextCommands } from './context-command.js';
import { registerProcessCommands } from './processes.js';
import { registerDeployCommands } from './deploys.js';
// For scripts/bundle-cli.mjs, which evaluates bullmq while it makes the bundle's code cache.
export { loadBullmq } from '../shared/bullmq-loader.js';

/**
 * The one place errors become exit codes (the public contract): 0 done, 2 bad input (an
 * InputError, or a usage error commander found), 1 anything else that failed: an unknown
 * id (NotFoundError), a wait that timed out or settled elsewhere (TimeoutError,
 * SettledError), a lost append race (ConflictError), Redis down or refusing (RedisRefusedError).
 */
export function exitCodeOf(err: unknown): number {
  if (err instanceof InputError) return 2;
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  return 1;
}

/** Every command, with the way client commands reach Redis (the one in cliRedis()). */
export function buildProgram(): Command {
  const program = new Command('reapq')
    .description('process runner that stops whole trees and leaves no orphan or zombie behind')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ outputError: (s, write) => write(s.split('\n')[0] + '\n') })
    .showSuggestionAfterError(true);
  const withClient = async <T>(fn: (c: ReapqClient, where: CliRedis) => Promise<T>): Promise<T> => {
    const target = cliRedis(process.env, process.cwd());
    // Loaded here, not at the top: `reapq --help` and bad flags need no Redis client.
    const { ReapqClient, internalsOf } = await import('../producer/client.js');
    const { explainRefusal } = await import('../producer/refusals.js');
    const client = new ReapqClient(target.options);
    try {
      return await fn(client, target);
    } catch (err) {
      if (isConnectionError(err)) throw new RedisUnreachableError(target, err, client.lastConnectionError);
      // A command run past the client's methods still reports a Redis refusal with what to do.
      throw await explainRefusal(err, internalsOf(client).connection);
    } finally {
      await client.close().catch(() => undefined);
    }
  };
  registerProcessCommands(program, withClient);
  registerDeployCommands(program, withClient);
  registerOpsCommands(program, withClient);
  registerTopCommand(program, withClient);
  registerContextCommands(program);
  registerStartupCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return exitCodeOf(err); // commander already printed its line
    process.stderr.write(`reapq: ${oneLine(err)}\n`);
    return exitCodeOf(err);
  }
}
