/** A socket's peer as HOST:PORT ([v6]:PORT) for logs and the audit log; '' when the socket is already gone. */
export function hostPort (address: string | undefined, port: number | undefined): string {
  if (address === undefined) return ''
  return `${address.includes(':') ? `[${address}]` : address}:${port ?? 0}`
}

/** The host of a hostPort() string (the address alone: '[v6]:PORT' → 'v6'); '' stays ''. */
export function hostOf (peer: string): string {
  const cut = peer.lastIndexOf(':')
  const host = cut < 0 ? peer : peer.slice(0, cut)
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}
