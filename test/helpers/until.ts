/** Polls `check` until it returns a truthy value or the deadline passes (then throws, naming `what`). */
export async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, ms: number, what: string, everyMs = 25): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
