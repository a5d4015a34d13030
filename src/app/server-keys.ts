/** Gateway public keys by `node/iface`, so validation can refuse a peer that reuses one. */
export function serverKeys(publicValues: ReadonlyMap<string, string | undefined> | undefined): Map<string, string> {
  const keys = new Map<string, string>()
  for (const [id, value] of publicValues ?? []) {
    const match = /^node\/([^/]+)\/wireguard\/(.+)$/.exec(id)
    if (match?.[1] && match[2] && value) keys.set(`${match[1]}/${match[2]}`, value)
  }
  return keys
}

/** The same, from a decrypted snapshot's secrets. */
export function snapshotPublicValues(
  secrets: ReadonlyMap<string, {readonly publicValue?: string}> | undefined,
): Map<string, string | undefined> {
  return new Map([...(secrets ?? [])].map(([id, secret]) => [id, secret.publicValue]))
}
