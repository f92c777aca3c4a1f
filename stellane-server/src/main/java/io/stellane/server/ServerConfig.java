package io.stellane.server;

import java.time.Duration;
import java.util.Objects;

/**
 * Limits and timeouts of one {@link Server}, with safe defaults. Immutable; build one with
 * {@link #builder()} or change a copy through {@link #toBuilder()}.
 *
 * @param maxRequestLineLength longest request line in bytes; longer: 414 (default 8 KiB)
 * @param maxHeaderSize        largest header section in bytes; larger: 431 (default 16 KiB)
 * @param maxHeaderCount       most header fields; more: 431 (default 100)
 * @param maxBodySize          largest request body in bytes; larger: 413 (default 4 MiB)
 * @param headerReadTimeout    time a client has to send a complete request head once it started one
 *                             (and to send anything on a new connection); exceeded: 408 and close (default 10 s)
 * @param idleTimeout          how long a keep-alive connection may sit idle between requests (default 30 s)
 * @param maxConnections       open connections per server; more are closed at once (default 10 000)
 * @param drainTimeout         how long {@link Server#stop()} waits for in-flight requests (default 10 s)
 * @param backlog              the listen backlog (default 1024)
 */
public record ServerConfig(
        int maxRequestLineLength,
        int maxHeaderSize,
        int maxHeaderCount,
        long maxBodySize,
        Duration headerReadTimeout,
        Duration idleTimeout,
        int maxConnections,
        Duration drainTimeout,
        int backlog) {

    public ServerConfig {
        positive(maxRequestLineLength, "maxRequestLineLength");
        positive(maxHeaderSize, "maxHeaderSize");
        positive(maxHeaderCount, "maxHeaderCount");
        if (maxBodySize < 0) {
            throw new IllegalArgumentException("maxBodySize must be >= 0, not " + maxBodySize);
        }
        positive(headerReadTimeout, "headerReadTimeout");
        positive(idleTimeout, "idleTimeout");
        positive(maxConnections, "maxConnections");
        Objects.requireNonNull(drainTimeout, "drainTimeout");
        positive(backlog, "backlog");
    }

    public static ServerConfig defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        return new Builder(this);
    }

    private static void positive(int v, String name) {
        if (v <= 0) {
            throw new IllegalArgumentException(name + " must be > 0, not " + v);
        }
    }

    private static void positive(Duration v, String name) {
        Objects.requireNonNull(v, name);
        if (v.isNegative() || v.isZero()) {
            throw new IllegalArgumentException(name + " must be > 0, not " + v);
        }
    }

    /** A mutable builder, starting from the defaults. Not thread-safe. */
    public static final class Builder {
        private int maxRequestLineLength = 8 * 1024;
        private int maxHeaderSize = 16 * 1024;
        private int maxHeaderCount = 100;
        private long maxBodySize = 4L * 1024 * 1024;
        private Duration headerReadTimeout = Duration.ofSeconds(10);
        private Duration idleTimeout = Duration.ofSeconds(30);
        private int maxConnections = 10_000;
        private Duration drainTimeout = Duration.ofSeconds(10);
        private int backlog = 1024;

        private Builder() {
        }

        private Builder(ServerConfig c) {
            maxRequestLineLength = c.maxRequestLineLength;
            maxHeaderSize = c.maxHeaderSize;
            maxHeaderCount = c.maxHeaderCount;
            maxBodySize = c.maxBodySize;
            headerReadTimeout = c.headerReadTimeout;
            idleTimeout = c.idleTimeout;
            maxConnections = c.maxConnections;
            drainTimeout = c.drainTimeout;
            backlog = c.backlog;
        }

        public Builder maxRequestLineLength(int v) { maxRequestLineLength = v; return this; }
        public Builder maxHeaderSize(int v) { maxHeaderSize = v; return this; }
        public Builder maxHeaderCount(int v) { maxHeaderCount = v; return this; }
        public Builder maxBodySize(long v) { maxBodySize = v; return this; }
        public Builder headerReadTimeout(Duration v) { headerReadTimeout = v; return this; }
        public Builder idleTimeout(Duration v) { idleTimeout = v; return this; }
        public Builder maxConnections(int v) { maxConnections = v; return this; }
        public Builder drainTimeout(Duration v) { drainTimeout = v; return this; }
        public Builder backlog(int v) { backlog = v; return this; }

        public ServerConfig build() {
            return new ServerConfig(maxRequestLineLength, maxHeaderSize, maxHeaderCount, maxBodySize,
                    headerReadTimeout, idleTimeout, maxConnections, drainTimeout, backlog);
        }
    }
}
