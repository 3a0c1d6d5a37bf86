/**
 * The idle benches' parent side: a fleet of idle visitors in a child process (fleetChild.ts), driven
 * over IPC, and the loopback source addresses each fleet connects from.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FleetCommand, FleetStatus } from './fleetChild.ts';
import { LOOPBACK_SOURCES } from './idle.ts';
import { raiseNofile } from './relayHandle.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export class Fleet {
  private next = 1;
  private constructor(readonly child: ChildProcess) {}
  static start(nofile: number): Fleet {
    const child = fork(path.join(HERE, 'fleetChild.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    raiseNofile(child.pid!, nofile);
    return new Fleet(child);
  }
  request(m: FleetCommand extends infer C ? (C extends unknown ? Omit<C, 'id'> : never) : never): Promise<FleetStatus> {
    const id = this.next++;
    return new Promise((resolve) => {
      const on = (s: FleetStatus) => {
        if (s.id !== id) return;
        this.child.off('message', on);
        resolve(s);
      };
      this.child.on('message', on);
      this.child.send({ ...m, id } as FleetCommand);
    });
  }
}

/**
 * Fleet `i` of `n`: its own loopback source addresses (28k ephemeral ports each), or all of them when
 * there are more fleets than addresses. `block` (1-254) moves them to 127.0.<block>.x: a phase that
 * follows another (the floor after ours, a run after a run) then does not meet the earlier one's
 * sockets in TIME_WAIT (60 s) on the same addresses; the 40,000-visitor floor opened in 42-57 s
 * instead of ~4 s because of them.
 */
export function sourcesOf(i: number, n: number, block = 0): string[] {
  const all = block === 0 ? LOOPBACK_SOURCES : LOOPBACK_SOURCES.map((a) => a.replace(/^127\.0\.0\./, `127.0.${block}.`));
  return n > all.length ? all : all.filter((_, k) => k % n === i);
}
