/** Many idle visitor sockets in a child process (idleFleetChild.ts), driven one request at a time. */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { FleetReply, FleetRequest } from './idleFleetChild.ts';

export class IdleFleet {
  private constructor(private readonly child: ChildProcess) {}

  static start(): IdleFleet {
    const child = fork(path.join(import.meta.dirname, 'idleFleetChild.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new IdleFleet(child);
  }

  /** Sends one request; resolves with the visitor ids the fleet holds afterwards. */
  request(m: FleetRequest): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`fleet process exited (${code})`));
      this.child.once('exit', onExit);
      this.child.once('message', (r: FleetReply) => {
        this.child.off('exit', onExit);
        if (r.type === 'ok') resolve(r.visitorIds);
        else reject(new Error(r.message));
      });
      this.child.send(m);
    });
  }

  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}
