/** A socket's peer as HOST:PORT ([v6]:PORT) for logs and the audit log; '' when the socket is already gone. */
export function hostPort (address: string | undefined, port: number | undefined): string {
  if (address === undefined) return ''
  return `${address.includes(':') ? `[${address}]` : address}:${port ?? 0}`
}
