/**
 * Turns a failure to listen on a port into one sentence an operator can act on. grpc-js reports a
 * taken port as "No address added out of total 1 resolved errors: [listen EADDRINUSE ...]", and
 * Node's http server as a bare "listen EADDRINUSE"; neither names the flag to change.
 *
 * @param what - what was to listen, as the message should name it ("port", "metrics port").
 */
export function listenError(what: string, host: string, port: number, error: Error): Error {
  const text = `${(error as NodeJS.ErrnoException).code ?? ""} ${error.message}`;
  let reason: string;
  if (text.includes("EADDRINUSE")) {
    reason = `${what} ${port} on ${host} is already in use; stop the other process or choose another ${what} (0 picks a free one)`;
  } else if (text.includes("EACCES")) {
    reason = `${what} ${port} on ${host} needs privileges this process does not have; choose a ${what} above 1023`;
  } else if (text.includes("EADDRNOTAVAIL") || text.includes("ENOTFOUND")) {
    reason = `${host} is not an address of this machine; choose another host`;
  } else {
    reason = `cannot listen on ${host}:${port} (${what}): ${error.message}`;
  }
  return new Error(reason, { cause: error });
}
