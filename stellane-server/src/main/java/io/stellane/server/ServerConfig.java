package io.stellane.server;

import com.fasterxml.jackson.databind.JsonNode;
import io.stellane.config.ConfigChange;
import io.stellane.config.ConfigException;
import io.stellane.config.ConfigLoader;

import java.lang.reflect.RecordComponent;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * Limits and timeouts of one {@link Server}, with safe defaults: every resource a client can make
 * the server hold (a connection, buffered bytes in either direction, time) has a bound, and each
 * bound that trips is counted ({@link ServerLimit}). Immutable; build one with {@link #builder()},
 * change a copy through {@link #toBuilder()}, or read the {@code [server]} TOML table with
 * {@link #fromToml}. {@code docs/OPERATIONS.md} explains each limit and what to do when it trips.
 *
 * @param maxRequestLineLength   longest request line in bytes; longer: 414 (default 8 KiB)
 * @param maxHeaderSize          largest header section in bytes; larger: 431 (default 16 KiB)
 * @param maxHeaderCount         most header fields; more: 431 (default 100)
 * @param maxBodySize            largest request body in bytes; larger: 413 (default 4 MiB)
 * @param headerReadTimeout      time a client has to send a complete request head once it started one
 *                               (and to send anything on a new connection); exceeded: 408 and close (default 10 s)
 * @param requestReadTimeout     time a client has to send a whole request, head and body, from its first
 *                               byte; exceeded: 408 and close (default 60 s)
 * @param minBodyRate            bytes per second a request body must average once it has been read for
 *                               {@code bodyRateGracePeriod}; slower: 408 and close; 0 turns the check off
 *                               (default 1024)
 * @param bodyRateGracePeriod    how long a body may arrive at any rate before {@code minBodyRate} applies
 *                               (default 5 s)
 * @param idleTimeout            how long a keep-alive connection may sit idle between requests (default 30 s)
 * @param writeTimeout           how long a response may wait for the client to read any of it, once the
 *                               connection's outbound buffer is full; exceeded: the connection is reset
 *                               (default 30 s)
 * @param writeHighWaterMark     outbound bytes queued on a connection above which the server stops reading
 *                               (and so decoding) its requests until they drain below half of it (default 64 KiB)
 * @param maxQueuedResponseBytes outbound bytes a connection may queue at all: a streaming response that
 *                               writes past it is aborted (default 1 MiB)
 * @param maxConnections         open connections per server; at the cap the idle and slowest connections are
 *                               shed for new ones, and if none can be, new ones are closed (default 10 000)
 * @param maxConnectionsPerAddress open connections from one client IP address; more are closed at once
 *                               (default 1 000; behind a proxy, raise it to {@code maxConnections})
 * @param maxBufferedBodyBytes   request-body bytes all connections may hold at once; a body that does not
 *                               fit is answered 503 with {@code Retry-After} (default a quarter of the
 *                               maximum heap, at most 256 MiB)
 * @param drainTimeout           how long {@link Server#stop()} waits for in-flight requests (default 10 s)
 * @param backlog                the listen backlog (default 1024)
 * @param reusePort              listen with {@code SO_REUSEPORT}, so that other processes (of the same user)
 *                               listening with it too share the port and the kernel spreads the connections
 *                               among them; off, a port another process listens on is refused (default off).
 *                               Read at {@link Server#listen}
 * @param http2MaxConcurrentStreams streams an HTTP/2 client may have open at once on one connection; more are
 *                               refused with {@code RST_STREAM REFUSED_STREAM} (default 100). An HTTP/2
 *                               connection's header list is bounded by {@code maxHeaderSize}
 * @param http2InitialWindowSize the HTTP/2 flow-control window of each stream, in bytes: how much of a request
 *                               body a client may send before the server has read it (default 64 KiB - 1)
 * @param http2MaxResets         {@code RST_STREAM} frames an HTTP/2 client may send per 30 seconds on one
 *                               connection; more (a rapid-reset attack) end the connection with {@code GOAWAY}
 *                               (default 200)
 * @param tls                    TLS on the server's listeners, or null for cleartext HTTP (the default). Whether
 *                               a listener speaks TLS is read at {@link Server#listen}; a changed
 *                               {@link TlsConfig} applies to new handshakes at once
 */
public record ServerConfig(
        int maxRequestLineLength,
        int maxHeaderSize,
        int maxHeaderCount,
        long maxBodySize,
        Duration headerReadTimeout,
        Duration requestReadTimeout,
        long minBodyRate,
        Duration bodyRateGracePeriod,
        Duration idleTimeout,
        Duration writeTimeout,
        int writeHighWaterMark,
        long maxQueuedResponseBytes,
        int maxConnections,
        int maxConnectionsPerAddress,
        long maxBufferedBodyBytes,
        Duration drainTimeout,
        int backlog,
        boolean reusePort,
        int http2MaxConcurrentStreams,
        int http2InitialWindowSize,
        int http2MaxResets,

        TlsConfig tls) {

    /** Bodies are gathered into one array. */
    static final long MAX_BODY_SIZE_LIMIT = Integer.MAX_VALUE - 8;

    public ServerConfig {
        positive(maxRequestLineLength, "maxRequestLineLength");
        positive(maxHeaderSize, "maxHeaderSize");
        positive(maxHeaderCount, "maxHeaderCount");
        if (maxBodySize < 0 || maxBodySize > MAX_BODY_SIZE_LIMIT) {
            throw new IllegalArgumentException("maxBodySize must be 0.." + MAX_BODY_SIZE_LIMIT + ", not " + maxBodySize);
        }
        positive(headerReadTimeout, "headerReadTimeout");
        positive(requestReadTimeout, "requestReadTimeout");
        if (minBodyRate < 0) {
            throw new IllegalArgumentException("minBodyRate must be >= 0 (0: no minimum), not " + minBodyRate);
        }
        positive(bodyRateGracePeriod, "bodyRateGracePeriod");
        positive(idleTimeout, "idleTimeout");
        positive(writeTimeout, "writeTimeout");
        if (writeHighWaterMark < 2) {
            throw new IllegalArgumentException("writeHighWaterMark must be >= 2, not " + writeHighWaterMark);
        }
        if (maxQueuedResponseBytes < writeHighWaterMark) {
            throw new IllegalArgumentException("maxQueuedResponseBytes must be >= writeHighWaterMark ("
                    + writeHighWaterMark + "), not " + maxQueuedResponseBytes);
        }
        positive(maxConnections, "maxConnections");
        positive(maxConnectionsPerAddress, "maxConnectionsPerAddress");
        if (maxBufferedBodyBytes < 1) {
            throw new IllegalArgumentException("maxBufferedBodyBytes must be > 0, not " + maxBufferedBodyBytes);
        }
        Objects.requireNonNull(drainTimeout, "drainTimeout");
        positive(backlog, "backlog");
        positive(http2MaxConcurrentStreams, "http2MaxConcurrentStreams");
        positive(http2InitialWindowSize, "http2InitialWindowSize"); // at most 2^31-1 by its type, as RFC 9113 allows
        positive(http2MaxResets, "http2MaxResets");
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

    /** The default of {@link #maxBufferedBodyBytes}: a quarter of the heap this JVM may grow to, at most 256 MiB. */
    static long defaultBodyBudget() {
        return Math.max(1, Math.min(256L << 20, java.lang.Runtime.getRuntime().maxMemory() / 4));
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

    /** The fields whose values differ in {@code next}, named as in TOML ({@code server.max_body_size}). */
    public List<ConfigChange> changesTo(ServerConfig next) {
        List<ConfigChange> out = new ArrayList<>();
        for (RecordComponent rc : ServerConfig.class.getRecordComponents()) {
            try {
                Object a = rc.getAccessor().invoke(this);
                Object b = rc.getAccessor().invoke(next);
                if (a instanceof TlsConfig ta && b instanceof TlsConfig tb) {
                    out.addAll(ta.changesTo("server.tls", tb));
                } else if (!Objects.equals(a, b)) {
                    out.add(new ConfigChange("server." + snake(rc.getName()), shown(a), shown(b)));
                }
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
        }
        return out;
    }

    private static String snake(String camel) {
        return camel.replaceAll("([a-z0-9])([A-Z])", "$1_$2").toLowerCase(Locale.ROOT);
    }

    private static String shown(Object v) {
        if (v instanceof TlsConfig t) {
            return "{certificate = " + TlsConfig.shown(t.certificate()) + ", ...}";
        }
        return v instanceof Duration d ? '"' + d.toString().substring(2).toLowerCase(Locale.ROOT) + '"'
                : v == null ? "(none)" : String.valueOf(v);
    }

    // ---------------------------------------------------------------- TOML

    /** What a key's value may be written as in TOML: a number or a string, a string, a boolean. */
    private enum Kind { NUMBER_OR_TEXT, TEXT, BOOLEAN }

    private record Key(String name, String allowed, BiConsumer<Builder, String> apply, Kind kind) {
    }

    private static final String DURATION = "a duration such as 500ms, 10s or 1m, above 0";
    private static final List<Key> KEYS = List.of(
            size("max_request_line_length", 1, Integer.MAX_VALUE, (b, v) -> b.maxRequestLineLength(v.intValue())),
            size("max_header_size", 1, Integer.MAX_VALUE, (b, v) -> b.maxHeaderSize(v.intValue())),
            count("max_header_count", 1, (b, v) -> b.maxHeaderCount(v)),
            size("max_body_size", 0, MAX_BODY_SIZE_LIMIT, Builder::maxBodySize),
            duration("header_read_timeout", Builder::headerReadTimeout),
            duration("request_read_timeout", Builder::requestReadTimeout),
            size("min_body_rate", 0, Long.MAX_VALUE, Builder::minBodyRate),
            duration("body_rate_grace_period", Builder::bodyRateGracePeriod),
            duration("idle_timeout", Builder::idleTimeout),
            duration("write_timeout", Builder::writeTimeout),
            size("write_high_water_mark", 2, Integer.MAX_VALUE, (b, v) -> b.writeHighWaterMark(v.intValue())),
            size("max_queued_response_bytes", 2, Long.MAX_VALUE, Builder::maxQueuedResponseBytes),
            count("max_connections", 1, Builder::maxConnections),
            count("max_connections_per_address", 1, Builder::maxConnectionsPerAddress),
            size("max_buffered_body_bytes", 1, Long.MAX_VALUE, Builder::maxBufferedBodyBytes),
            duration("drain_timeout", Builder::drainTimeout),
            count("backlog", 1, Builder::backlog),
            bool("reuse_port", Builder::reusePort),
            count("http2_max_concurrent_streams", 1, Builder::http2MaxConcurrentStreams),
            size("http2_initial_window_size", 1, Integer.MAX_VALUE, (b, v) -> b.http2InitialWindowSize(v.intValue())),
            count("http2_max_resets", 1, Builder::http2MaxResets));

    /** The key of the TLS table, {@code [server.tls]}: read by {@link TlsConfig#fromToml}. */
    private static final String TLS_KEY = "tls";

    /** The TOML keys {@link #fromToml} reads, in order ({@code tls} is the {@code [server.tls]} table). */
    public static List<String> tomlKeys() {
        List<String> keys = new ArrayList<>(KEYS.stream().map(Key::name).toList());
        keys.add(TLS_KEY);
        return keys;
    }

    /**
     * {@code base} overlaid with the keys of a TOML table (e.g. {@code [server]}): sizes as a number of
     * bytes or with a binary unit ({@code "4MiB"}), durations as {@code "10s"}, counts as integers.
     * Keys in {@code callerKeys} (say {@code host} and {@code port}) are left to the caller; any other
     * key is an error.
     *
     * @param table      the table's name, for messages (e.g. {@code server})
     * @param node       the table, or null for none
     * @throws ConfigException naming the key, the value and what is allowed
     */
    public static ServerConfig fromToml(String table, JsonNode node, ServerConfig base, Set<String> callerKeys) {
        if (node == null) {
            return base;
        }
        List<String> allowed = new ArrayList<>(callerKeys);
        allowed.addAll(tomlKeys());
        if (!node.isObject()) {
            throw new ConfigException(table, node.toString(), "a table with keys " + String.join(", ", allowed));
        }
        Builder b = base.toBuilder();
        List<String> touched = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            String name = e.getKey();
            if (callerKeys.contains(name)) {
                continue;
            }
            String path = table + "." + name;
            if (name.equals(TLS_KEY)) {
                b.tls(TlsConfig.fromToml(path, e.getValue()));
                touched.add(path);
                continue;
            }
            Key key = KEYS.stream().filter(k -> k.name.equals(name)).findFirst().orElseThrow(() ->
                    new ConfigException(path, shown(e.getValue()), "unknown key; allowed keys in [" + table + "]: "
                            + String.join(", ", allowed)));
            JsonNode v = e.getValue();
            String text;
            if (key.kind == Kind.BOOLEAN ? v.isBoolean() : v.isTextual()) {
                text = v.asText();
            } else if (v.isIntegralNumber() && key.kind == Kind.NUMBER_OR_TEXT) {
                text = v.asText();
            } else {
                throw new ConfigException(path, shown(v), key.allowed);
            }
            try {
                key.apply.accept(b, text);
            } catch (ConfigException ce) {
                throw new ConfigException(path, shown(v), key.allowed);
            }
            touched.add(path);
        }
        try {
            return b.build();
        } catch (IllegalArgumentException ex) { // a combination, e.g. the queue cap below the high-water mark
            throw new ConfigException(table, "the values of " + String.join(", ", touched) + " do not fit together: "
                    + ex.getMessage());
        }
    }

    private static Object shown(JsonNode v) {
        return v.isTextual() ? v.textValue() : v;
    }

    private static Key size(String name, long min, long max, BiConsumer<Builder, Long> set) {
        String allowed = (min == 0 ? "0 or more bytes" : "at least " + min + " bytes")
                + (max < Long.MAX_VALUE ? " and at most " + max : "") + ", as an integer or with a unit (\"64KiB\", \"4MiB\")";
        return new Key(name, allowed, (b, text) -> {
            long v = ConfigLoader.parseSize(name, text);
            if (v < min || v > max) {
                throw new ConfigException(name, text, allowed);
            }
            set.accept(b, v);
        }, Kind.NUMBER_OR_TEXT);
    }

    private static Key count(String name, int min, BiConsumer<Builder, Integer> set) {
        String allowed = "an integer from " + min + " to " + Integer.MAX_VALUE;
        return new Key(name, allowed, (b, text) -> {
            long v;
            try {
                v = Long.parseLong(text.strip());
            } catch (NumberFormatException e) {
                throw new ConfigException(name, text, allowed);
            }
            if (v < min || v > Integer.MAX_VALUE) {
                throw new ConfigException(name, text, allowed);
            }
            set.accept(b, (int) v);
        }, Kind.NUMBER_OR_TEXT);
    }

    private static Key bool(String name, BiConsumer<Builder, Boolean> set) {
        return new Key(name, "true or false", (b, text) -> set.accept(b, Boolean.parseBoolean(text)), Kind.BOOLEAN);
    }

    private static Key duration(String name, BiConsumer<Builder, Duration> set) {
        return new Key(name, DURATION, (b, text) -> {
            Duration d = ConfigLoader.parseDuration(name, text);
            if (d.isZero() || d.isNegative()) {
                throw new ConfigException(name, text, DURATION);
            }
            set.accept(b, d);
        }, Kind.TEXT);
    }

    // ---------------------------------------------------------------- builder

    /** A mutable builder, starting from the defaults. Not thread-safe. */
    public static final class Builder {
        private int maxRequestLineLength = 8 * 1024;
        private int maxHeaderSize = 16 * 1024;
        private int maxHeaderCount = 100;
        private long maxBodySize = 4L * 1024 * 1024;
        private Duration headerReadTimeout = Duration.ofSeconds(10);
        private Duration requestReadTimeout = Duration.ofSeconds(60);
        private long minBodyRate = 1024;
        private Duration bodyRateGracePeriod = Duration.ofSeconds(5);
        private Duration idleTimeout = Duration.ofSeconds(30);
        private Duration writeTimeout = Duration.ofSeconds(30);
        private int writeHighWaterMark = 64 * 1024;
        private long maxQueuedResponseBytes = 1024 * 1024;
        private int maxConnections = 10_000;
        private int maxConnectionsPerAddress = 1_000;
        private long maxBufferedBodyBytes = defaultBodyBudget();
        private Duration drainTimeout = Duration.ofSeconds(10);
        private int backlog = 1024;
        private boolean reusePort;
        private int http2MaxConcurrentStreams = 100;
        private int http2InitialWindowSize = 65_535;
        private int http2MaxResets = 200;
        private TlsConfig tls;

        private Builder() {
        }

        private Builder(ServerConfig c) {
            maxRequestLineLength = c.maxRequestLineLength;
            maxHeaderSize = c.maxHeaderSize;
            maxHeaderCount = c.maxHeaderCount;
            maxBodySize = c.maxBodySize;
            headerReadTimeout = c.headerReadTimeout;
            requestReadTimeout = c.requestReadTimeout;
            minBodyRate = c.minBodyRate;
            bodyRateGracePeriod = c.bodyRateGracePeriod;
            idleTimeout = c.idleTimeout;
            writeTimeout = c.writeTimeout;
            writeHighWaterMark = c.writeHighWaterMark;
            maxQueuedResponseBytes = c.maxQueuedResponseBytes;
            maxConnections = c.maxConnections;
            maxConnectionsPerAddress = c.maxConnectionsPerAddress;
            maxBufferedBodyBytes = c.maxBufferedBodyBytes;
            drainTimeout = c.drainTimeout;
            backlog = c.backlog;
            reusePort = c.reusePort;
            http2MaxConcurrentStreams = c.http2MaxConcurrentStreams;
            http2InitialWindowSize = c.http2InitialWindowSize;
            http2MaxResets = c.http2MaxResets;
            tls = c.tls;
        }

        public Builder maxRequestLineLength(int v) { maxRequestLineLength = v; return this; }
        public Builder maxHeaderSize(int v) { maxHeaderSize = v; return this; }
        public Builder maxHeaderCount(int v) { maxHeaderCount = v; return this; }
        public Builder maxBodySize(long v) { maxBodySize = v; return this; }
        public Builder headerReadTimeout(Duration v) { headerReadTimeout = v; return this; }
        public Builder requestReadTimeout(Duration v) { requestReadTimeout = v; return this; }
        public Builder minBodyRate(long bytesPerSecond) { minBodyRate = bytesPerSecond; return this; }
        public Builder bodyRateGracePeriod(Duration v) { bodyRateGracePeriod = v; return this; }
        public Builder idleTimeout(Duration v) { idleTimeout = v; return this; }
        public Builder writeTimeout(Duration v) { writeTimeout = v; return this; }
        public Builder writeHighWaterMark(int bytes) { writeHighWaterMark = bytes; return this; }
        public Builder maxQueuedResponseBytes(long bytes) { maxQueuedResponseBytes = bytes; return this; }
        public Builder maxConnections(int v) { maxConnections = v; return this; }
        public Builder maxConnectionsPerAddress(int v) { maxConnectionsPerAddress = v; return this; }
        public Builder maxBufferedBodyBytes(long bytes) { maxBufferedBodyBytes = bytes; return this; }
        public Builder drainTimeout(Duration v) { drainTimeout = v; return this; }
        public Builder backlog(int v) { backlog = v; return this; }
        public Builder reusePort(boolean v) { reusePort = v; return this; }
        public Builder http2MaxConcurrentStreams(int v) { http2MaxConcurrentStreams = v; return this; }
        public Builder http2InitialWindowSize(int bytes) { http2InitialWindowSize = bytes; return this; }
        public Builder http2MaxResets(int v) { http2MaxResets = v; return this; }
        /** TLS on the listeners; null: cleartext. */
        public Builder tls(TlsConfig v) { tls = v; return this; }

        public ServerConfig build() {
            return new ServerConfig(maxRequestLineLength, maxHeaderSize, maxHeaderCount, maxBodySize,
                    headerReadTimeout, requestReadTimeout, minBodyRate, bodyRateGracePeriod, idleTimeout,
                    writeTimeout, writeHighWaterMark, maxQueuedResponseBytes, maxConnections,
                    maxConnectionsPerAddress, maxBufferedBodyBytes, drainTimeout, backlog, reusePort,
                    http2MaxConcurrentStreams, http2InitialWindowSize, http2MaxResets, tls);
        }
    }
}
