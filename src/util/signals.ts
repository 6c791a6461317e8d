// How podnet's long-running commands end: the first SIGTERM or SIGINT runs `stop` once; the
// returned promise settles when it has finished (errors are the caller's to log inside `stop`).
export function runUntilSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise<void>((done) => {
    let stopping = false;
    const onSignal = () => {
      if (stopping) return;
      stopping = true;
      stop().finally(done);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
