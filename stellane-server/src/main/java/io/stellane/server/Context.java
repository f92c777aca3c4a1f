package io.stellane.server;

import io.netty.handler.codec.http.QueryStringDecoder;
import io.stellane.recovery.RecoveryMetadata;
import io.stellane.task.Task;
import org.slf4j.Logger;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * One request being handled: the {@link Request}, its path and query parameters, attributes shared
 * between filters and the handler, a per-request id and a logger that tags each line with it.
 *
 * <p>Threading: not thread-safe. Use it from the handler's thread: the worker for async handlers,
 * the virtual thread for blocking ones (attributes set by filters before are visible there).
 */
public final class Context {
    private static final String[] NO_PARAMS = new String[0];

    private final Dispatcher dispatcher;
    private final Exchange exchange; // null during a replay
    private final Request request;
    private final long requestSeq;
    private String[] paramNames = NO_PARAMS;
    private String[] paramValues = NO_PARAMS;
    private Map<String, List<String>> queryParams;
    private Map<String, Object> attributes;
    private String requestId;
    private Logger logger;
    String routePattern;
    /**
     * Null unless the request is journaled (live) or a replay: the one field recovery adds to every
     * request, so requests without recovery pay one null reference and nothing else.
     */
    RecoveryState recoveryState;

    /** What recovery keeps about a journaled or replayed request. */
    static final class RecoveryState {
        /** Non-null during a replay; null for a live journaled request. */
        final RecoveryMetadata metadata;
        /** The route's handler, for {@link #retryOriginalHandler()}; looked up on demand when null. */
        Handler originalHandler;
        /** What {@link #retryOriginalHandler()} answered during a replay: stored for the idempotency key. */
        Response replayResponse;

        RecoveryState(RecoveryMetadata metadata) {
            this.metadata = metadata;
        }
    }

    /** A live request, the {@code requestSeq}th on {@code exchange}. */
    Context(Dispatcher dispatcher, Exchange exchange, Request request, long requestSeq) {
        this.dispatcher = dispatcher;
        this.exchange = exchange;
        this.request = request;
        this.requestSeq = requestSeq;
    }

    /** A replay of a journaled request: no exchange, the journaled id. */
    Context(Dispatcher dispatcher, Request request, String requestId, RecoveryMetadata metadata) {
        this.dispatcher = dispatcher;
        this.exchange = null;
        this.request = request;
        this.requestSeq = 0;
        this.requestId = requestId;
        this.recoveryState = new RecoveryState(metadata);
    }

    Dispatcher dispatcher() {
        return dispatcher;
    }

    void presetRequestId(String id) {
        this.requestId = id;
    }

    void params(String[] names, String[] values) {
        this.paramNames = names;
        this.paramValues = values;
    }

    public Request request() {
        return request;
    }

    /** The route pattern that matched, e.g. {@code /users/{id}}, or {@code null} when none did. */
    public String route() {
        return routePattern;
    }

    // ---------------------------------------------------------------- path parameters

    /** The path parameter {@code name}, percent-decoded. */
    public String param(String name) {
        for (int i = 0; i < paramNames.length; i++) {
            if (paramNames[i].equals(name)) {
                String raw = paramValues[i];
                return raw.indexOf('%') < 0 && raw.indexOf('+') < 0 ? raw : decode(raw);
            }
        }
        throw new IllegalArgumentException("route " + routePattern + " has no parameter '" + name + "'");
    }

    /**
     * The path parameter {@code name} converted to {@code type} ({@code int}, {@code long}, {@code double},
     * {@code boolean}, {@code UUID}, {@code String} or their boxes).
     *
     * @throws HttpException 400 when the value does not convert
     */
    public <T> T param(String name, Class<T> type) {
        return Conversions.convert(param(name), type, "path parameter '" + name + "'");
    }

    /** The path parameter {@code name} as an {@code int}; a 400 when it is not one. */
    public int paramInt(String name) {
        return Conversions.toInt(param(name), "path parameter '" + name + "'");
    }

    /** The path parameter {@code name} as a {@code long}; a 400 when it is not one. */
    public long paramLong(String name) {
        return Conversions.toLong(param(name), "path parameter '" + name + "'");
    }

    /** Path parameter names and decoded values, in path order. */
    public Map<String, String> params() {
        Map<String, String> m = new LinkedHashMap<>();
        for (String n : paramNames) {
            m.put(n, param(n));
        }
        return m;
    }

    // ---------------------------------------------------------------- query parameters

    /** The first value of query parameter {@code name}, decoded, if present. */
    public Optional<String> query(String name) {
        List<String> values = queryParams().get(name);
        return values == null || values.isEmpty() ? Optional.empty() : Optional.of(values.getFirst());
    }

    /** The first value of query parameter {@code name} converted to {@code type}, or {@code fallback} when absent; a 400 when it does not convert. */
    public <T> T query(String name, Class<T> type, T fallback) {
        Optional<String> v = query(name);
        return v.isEmpty() ? fallback : Conversions.convert(v.get(), type, "query parameter '" + name + "'");
    }

    /** Every value of query parameter {@code name}. */
    public List<String> queryAll(String name) {
        return queryParams().getOrDefault(name, List.of());
    }

    /** All query parameters, decoded (parsed on first use). */
    public Map<String, List<String>> queryParams() {
        if (queryParams == null) {
            String q = request.query();
            queryParams = q.isEmpty() ? Map.of()
                    : new QueryStringDecoder(q, StandardCharsets.UTF_8, false, 1024).parameters();
        }
        return queryParams;
    }

    // ---------------------------------------------------------------- attributes

    public Context attribute(String name, Object value) {
        if (attributes == null) {
            attributes = new HashMap<>();
        }
        attributes.put(name, value);
        return this;
    }

    @SuppressWarnings("unchecked")
    public <T> T attribute(String name) {
        return attributes == null ? null : (T) attributes.get(name);
    }

    // ---------------------------------------------------------------- identity and logging

    /**
     * This request's id. For a request the recovery journal keeps (see
     * {@link Server#enableRequestRecovery}) it is unique across restarts ({@code <random boot id>-<counter>}
     * in hex) and a replay returns the journaled id, so handlers can use it as an idempotency key for
     * their effects. For other requests it is unique in the process only:
     * {@code <connection>-<request on it>} in hex, built on first use.
     */
    public String requestId() {
        String id = requestId;
        if (id == null) {
            id = requestId = Long.toHexString(exchange.id()) + "-" + Long.toHexString(requestSeq);
        }
        return id;
    }

    /** A logger (SLF4J) whose lines start with {@code [req <id>]}. Created on first use. */
    public Logger logger() {
        Logger l = logger;
        if (l == null) {
            l = logger = new RequestLogger(dispatcher.server().log, requestId());
        }
        return l;
    }

    // ---------------------------------------------------------------- recovery

    /** The replay's metadata while this request is a replay of a journaled one ({@link Server#recover()}); else empty. */
    public Optional<RecoveryMetadata> recovery() {
        RecoveryState rs = recoveryState;
        return rs == null ? Optional.empty() : Optional.ofNullable(rs.metadata);
    }

    /**
     * Attaches {@code key = value} to this request's journal entry; a replay sees it in
     * {@link RecoveryMetadata#customData()}. A no-op when the request is not journaled. Durable per the
     * store's sync policy; under {@code SyncPolicy.ALWAYS} it waits for the disk, so call it from a
     * blocking handler then. With a shared store (PostgreSQL) a call from a worker is written from a
     * virtual thread and returns at once; from a blocking handler it returns once written.
     */
    public void recoveryData(String key, String value) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
        RecoveryInterceptor rec = dispatcher.recovery;
        if (rec != null && recoveryState != null) {
            rec.putCustomData(this, key, value);
        }
    }

    /**
     * Runs the route's original handler (with the server's filters) for this request, e.g. from an
     * {@code onRecover} hook. During a replay its response is what is stored for the request's
     * idempotency key, unless the hook's own task yields a {@link Response}. A 404 response when no
     * route matches. Call on the worker, like a handler.
     */
    public Task<Response> retryOriginalHandler() {
        RecoveryState rs = recoveryState;
        Handler h = rs == null ? null : rs.originalHandler;
        if (h == null) {
            h = dispatcher.route(this);
        }
        if (h == null) {
            return Task.completed(Response.notFound());
        }
        Task<Response> t;
        try {
            t = h.handle(this);
        } catch (Exception e) {
            return Task.failed(e);
        }
        if (t == null) {
            return Task.failed(new NullPointerException("handler for " + routePattern + " returned null instead of a Task"));
        }
        if (rs == null) {
            return t;
        }
        return t.map(r -> {
            rs.replayResponse = r;
            return r;
        });
    }

    @Override
    public String toString() {
        return "Context[" + request + ", " + requestId() + "]";
    }

    private static String decode(String raw) {
        try {
            return QueryStringDecoder.decodeComponent(raw.replace("+", "%2B"), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw new HttpException(400, "malformed percent-encoding in the path");
        }
    }
}
