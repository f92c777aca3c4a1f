package io.stellane.server;

/**
 * A bound of {@link ServerConfig} that a client ran into. Each trip is counted
 * ({@link Server#limitCount}), reported to observers ({@link ServerObserver#limitReached}, which the
 * metrics binding exports as {@code stellane_http_server_limits_total{limit="..."}}) and logged at
 * most once per ten seconds per limit. {@code docs/OPERATIONS.md} says what an operator does when
 * each one trips.
 */
public enum ServerLimit {
    /** A new connection was closed: {@code maxConnections} open and none could be shed. */
    CONNECTIONS("connections"),
    /** A new connection was closed: {@code maxConnectionsPerAddress} open from its address. */
    CONNECTIONS_PER_ADDRESS("connections_per_address"),
    /** An idle or slow connection was closed to make room for a new one at {@code maxConnections}. */
    CONNECTION_SHED("connection_shed"),
    /** A request head did not arrive within {@code headerReadTimeout} (408), or nothing at all did. */
    HEADER_TIMEOUT("header_timeout"),
    /** A request was not read whole within {@code requestReadTimeout} (408). */
    REQUEST_TIMEOUT("request_timeout"),
    /** A request body arrived slower than {@code minBodyRate} (408). */
    BODY_RATE("body_rate"),
    /** A request body did not fit {@code maxBufferedBodyBytes} (503 with {@code Retry-After}). */
    BODY_BUDGET("body_budget"),
    /**
     * A connection stopped being read because its responses were not being read
     * ({@code writeHighWaterMark}): backpressure, not an error; it resumes once the client reads.
     */
    WRITE_BACKPRESSURE("write_backpressure"),
    /** A client read none of a pending response for {@code writeTimeout}: the connection was reset. */
    WRITE_TIMEOUT("write_timeout"),
    /** A streaming response queued more than {@code maxQueuedResponseBytes}: it was aborted. */
    RESPONSE_QUEUE("response_queue"),
    /** An HTTP/2 client reset more than {@code http2MaxResets} streams in 30 s (rapid reset): {@code GOAWAY}. */
    HTTP2_RESETS("http2_resets"),
    /**
     * An HTTP/2 client flooded the connection with empty DATA frames, tiny CONTINUATION frames, SETTINGS or
     * PING frames whose acknowledgements it does not read, or frames that make the server reset streams:
     * {@code GOAWAY} (or, for unread acknowledgements, a close).
     */
    HTTP2_FLOOD("http2_flood"),
    /** A TLS client did not finish its handshake within {@link TlsConfig#handshakeTimeout()}: the connection was closed. */
    TLS_HANDSHAKE_TIMEOUT("tls_handshake_timeout");

    private final String label;

    ServerLimit(String label) {
        this.label = label;
    }

    /** The metric label value, e.g. {@code body_rate}. */
    public String label() {
        return label;
    }
}
