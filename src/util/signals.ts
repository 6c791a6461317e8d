// How podnet's long-running commands end: the first SIGTERM or SIGINT (or a call of the `stopNow`
// handed to `withStop`, for a command that ends itself) runs `stop` once; the returned promise
// settles when it has finished (errors are the caller's to handle inside `stop`).
export function runUntilSignal(stop: () => Promise<void>, withStop?: (stopNow: () => void) => void): Promise<void> {
  return new Promise<void>((done) => {
    let stopping = false;
    const stopNow = () => {
      if (stopping) return;
      stopping = true;
      stop().finally(done);
    };
    process.on('SIGTERM', stopNow);
    process.on('SIGINT', stopNow);
    withStop?.(stopNow);
  });
}
