/**
 * Child processes of the Kafka tests that run a StreamsApp each (fixtures/scale-child.ts,
 * fixtures/shutdown-child.ts): their output lines (stdout and stderr), their exit, and for
 * children that serve HTTP, the port they print as `READY <port>`.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export const SCALE_CHILD = new URL('./fixtures/scale-child.ts', import.meta.url);
export const SHUTDOWN_CHILD = new URL('./fixtures/shutdown-child.ts', import.meta.url);

export interface AppChild {
  readonly name: string;
  readonly process: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<void>;
  kill(signal?: NodeJS.Signals): void;
}

export interface ReadyChild extends AppChild {
  readonly port: number;
}

/** Starts `script` with `env` on top of this process's environment. */
export function spawnChild(script: URL, env: Readonly<Record<string, string>>, name = 'child'): AppChild {
  const proc = spawn(process.execPath, [script.pathname], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let buffer = '';
  const onData = (chunk: Buffer) => {
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    lines.push(...parts);
  };
  proc.stdout.on('data', onData);
  proc.stderr.on('data', onData);
  return { name, process: proc, lines, exited: new Promise((resolve) => proc.once('exit', () => resolve())), kill: (signal = 'SIGKILL') => proc.kill(signal) };
}

/** Starts `script` and waits until it prints `READY <port>` (fails if it exits or takes longer than `timeoutMs`). */
export async function startReady(script: URL, env: Readonly<Record<string, string>>, name = 'child', timeoutMs = 90_000): Promise<ReadyChild> {
  const child = spawnChild(script, env, name);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = child.lines.find((l) => l.startsWith('READY '));
    if (ready !== undefined) return { ...child, port: Number(ready.slice(6)) };
    if (child.process.exitCode !== null || Date.now() > deadline) throw new Error(`${name} did not start:\n${child.lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
