// HTTP-level names of cluster RPC, shared by client and server so they cannot drift apart.

/** Route of cluster RPC on the node's HTTP listener. */
export const RPC_PATH = '/v1/rpc'

/** The shared cluster secret (security.cluster_secret), sent verbatim; compared in constant time. */
export const RPC_HEADER_SECRET = 'x-scratchbird-cluster-secret'
/** The sender's cluster.name: two clusters cannot talk to each other by accident. */
export const RPC_HEADER_CLUSTER = 'x-scratchbird-cluster'
/** The sender's node.id (1..65535), handed to RPC methods as `from`. */
export const RPC_HEADER_NODE_ID = 'x-scratchbird-node-id'

export const RPC_CONTENT_TYPE = 'application/vnd.scratchbird.rpc'
