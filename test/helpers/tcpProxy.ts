/** A loopback TCP proxy that can stop reading from its clients: a relay that stalls, for real. */
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** Stop reading what clients send (their TCP send buffers, then the browser's queue, fill up). */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const clients = new Map<net.Socket, net.Socket>();
  let paused = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    clients.set(client, upstream);
    upstream.pipe(client);
    if (paused) client.pause();
    else client.pipe(upstream);
    const end = () => {
      clients.delete(client);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    pause() {
      paused = true;
      for (const [c, up] of clients) {
        c.unpipe(up);
        c.pause();
      }
    },
    resume() {
      paused = false;
      for (const [c, up] of clients) c.pipe(up);
    },
    close: () =>
      new Promise((r) => {
        for (const c of clients.keys()) c.destroy();
        server.close(() => r());
      }),
  };
}
