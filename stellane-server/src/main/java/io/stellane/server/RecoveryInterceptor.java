package io.stellane.server;

import io.netty.handler.codec.http.HttpHeaders;
import io.stellane.logging.LogThrottle;
import io.stellane.recovery.HttpHeader;
import io.stellane.recovery.IdempotencyKeyInUseException;
import io.stellane.recovery.JournalFullException;
import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.RecoveryManager;
import io.stellane.recovery.StoredResponse;
import io.stellane.recovery.SyncPolicy;

import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Map.Entry;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Predicate;

/**
 * Request recovery around the handler of a live request: the journal entry before it runs, its
 * completion before its answer is written, and idempotency keys.
 *
 * <h2>How it works</h2>
 * For a request the predicate selects, {@link #admit} gives it an id unique across restarts (a
 * random 64-bit boot id plus a counter), claims its {@code Idempotency-Key} in an in-memory map (a
 * second claim while the first is in flight is a 409), and hands it to the {@link JournalWriter}
 * chosen when recovery was enabled. The writer answers from the stored response if the key already
 * completed, else appends the request to the journal and lets the dispatcher run the handler; a
 * failed append is a 503 and the handler does not run. When the answer is ready, {@link #answered}
 * has the writer complete the entry (storing the response for the key), releases the claim, and only
 * then lets the exchange write it: a response a client received is never replayed after a crash.
 *
 * <p>A journal that fails (a full disk) fails every request the same way: each failure is counted
 * in {@link #stats()}, but logged at most once per {@link #LOG_INTERVAL} per kind, with the count.
 *
 * <p>Threading: built before the server starts; {@link #admit} and {@link #answered} run on the
 * exchange's loop, the writer's journal calls where {@link JournalWriter} says.
 */
final class RecoveryInterceptor {
    static final String IDEMPOTENCY_KEY = "Idempotency-Key";
    static final String IDEMPOTENT_REPLAY = "Idempotent-Replay";
    static final Duration LOG_INTERVAL = Duration.ofSeconds(10);

    private static final String BOOT_ID;
    private static final AtomicLong SEQ = new AtomicLong();

    static {
        byte[] b = new byte[8];
        new SecureRandom().nextBytes(b);
        BOOT_ID = HexFormat.of().formatHex(b);
    }

    final Server server;
    final RecoveryManager manager;
    private final Predicate<Request> journalIf;
    private final JournalWriter writer;
    /** Headers left out of the journal unless the route opts in ({@link Server#journalSensitiveHeaders}). */
    private final String[] sensitive;
    /** Bit n set when a sensitive name is n chars long (bit 63: 63 or more): most names need no compare. */
    private final long sensitiveLengths;
    /** Idempotency keys of requests in flight (live or replayed), to the id that holds each. */
    private final ConcurrentHashMap<String, String> inFlightKeys = new ConcurrentHashMap<>();
    private final LongAdder rejectedFull = new LongAdder();
    private final LongAdder journalErrors = new LongAdder();
    private final LongAdder idempotentReplays = new LongAdder();
    private final LongAdder conflicts = new LongAdder();
    private final LogThrottle throttle = new LogThrottle(LOG_INTERVAL);

    RecoveryInterceptor(Server server, RecoveryManager manager, Predicate<Request> journalIf) {
        this.server = server;
        this.manager = manager;
        this.journalIf = journalIf;
        this.sensitive = manager.store().config().sensitiveHeaders().toArray(String[]::new);
        long lengths = 0;
        for (String name : sensitive) {
            lengths |= 1L << Math.min(name.length(), 63);
        }
        this.sensitiveLengths = lengths;
        SyncPolicy sync = manager.store().config().syncPolicy();
        this.writer = manager.store().shared() ? new JournalWriter.Shared(this)
                : sync == SyncPolicy.ALWAYS ? new JournalWriter.Offloaded(this)
                : manager.store().groupsWrites() ? new JournalWriter.Grouped(this)
                : new JournalWriter.Inline(this);
    }

    /** A fresh id, unique across restarts: 64 random bits chosen at class load, then a counter. */
    static String newRequestId() {
        return BOOT_ID + "-" + Long.toHexString(SEQ.incrementAndGet());
    }

    RecoveryStats stats() {
        RecoveryManager.Counters c = manager.counters();
        return new RecoveryStats(c.journaled(), c.completed(), c.recovered(), c.failedAttempts(), c.quarantined(),
                rejectedFull.sum(), journalErrors.sum(), idempotentReplays.sum(), conflicts.sum(),
                manager.store().stats().bytesOnDisk());
    }

    // ---------------------------------------------------------------- live requests

    /**
     * Takes {@code cx}'s request over when the predicate selects it: journals it, then the dispatcher
     * runs {@code handler}, or it is answered without it. False when it is not journaled.
     */
    boolean admit(Exchange ex, Context cx, Handler handler) {
        try {
            if (!journalIf.test(cx.request())) {
                return false;
            }
        } catch (Throwable t) {
            ex.respond(cx, cx.dispatcher().mapError(t, cx));
            return true;
        }
        String id = newRequestId();
        cx.presetRequestId(id);
        String key = cx.request().header(IDEMPOTENCY_KEY);
        if (key != null && !claim(key, id)) {
            conflicts.increment();
            ex.respond(cx, Response.error(409, "a request with this Idempotency-Key is still in progress; retry later"));
            return true;
        }
        writer.admit(new JournalWriter.Admission(ex, cx, handler, key));
        return true;
    }

    /**
     * The handler's response is ready: the writer completes the journal entry (storing the response
     * for its key), then lets the exchange write it. A failed completion is logged and counted; the
     * request will be replayed after a restart (at-least-once), never lost.
     */
    void answered(Exchange ex, Context cx, Response r) {
        String key = cx.request().header(IDEMPOTENCY_KEY);
        writer.complete(new JournalWriter.Answer(ex, cx, r, key, key == null ? null : toStored(r)));
    }

    /** Claims an idempotency key for request {@code id}; false when another request holds it. */
    boolean claim(String key, String id) {
        return inFlightKeys.putIfAbsent(key, id) == null;
    }

    void release(String key, String id) {
        if (key != null) {
            inFlightKeys.remove(key, id);
        }
    }

    /**
     * The journal step of an admission, wherever the writer runs it: the stored answer for a key that
     * already completed, else the request appended. Null when the handler may run, else the answer to
     * send instead.
     */
    Response journal(JournalWriter.Admission a) {
        try {
            Response early = storedAnswer(a);
            if (early != null) {
                return early;
            }
            manager.journal(toJournaled(a));
            journaled(a.cx());
            return null;
        } catch (RuntimeException e) {
            return journalFailed(a, e);
        }
    }

    /** The stored answer for an idempotency key that already completed, or null. */
    Response storedAnswer(JournalWriter.Admission a) {
        if (a.key() == null) {
            return null;
        }
        Optional<StoredResponse> stored = manager.idempotentResponse(a.key());
        if (stored.isEmpty()) {
            return null;
        }
        release(a.key(), a.cx().requestId());
        idempotentReplays.increment();
        return fromStored(stored.get()).header(IDEMPOTENT_REPLAY, "true");
    }

    /** The request is in the journal: its answer goes through {@link #answered}. */
    static void journaled(Context cx) {
        cx.recoveryState = new Context.RecoveryState(null);
    }

    JournaledRequest toJournaled(JournalWriter.Admission a) {
        Request req = a.cx().request();
        return new JournaledRequest(a.cx().requestId(), Instant.now(), req.method(), req.target(),
                headersOf(req, a.handler()), req.body(), a.key());
    }

    Response journalFailed(JournalWriter.Admission a, Throwable e) {
        Context cx = a.cx();
        release(a.key(), cx.requestId());
        if (e instanceof IdempotencyKeyInUseException) {
            conflicts.increment(); // held by a request on another node sharing the journal
            return Response.error(409, "a request with this Idempotency-Key is still in progress; retry later");
        }
        if (e instanceof JournalFullException) {
            rejectedFull.increment();
            throttle.warn(cx.logger(), "journal.full", "request journal full, answering 503: " + e.getMessage(), null);
            return Response.error(503, "request journal is full; retry later").header("Retry-After", "1");
        }
        journalErrors.increment();
        throttle.error(cx.logger(), "journal.append", "cannot journal the request, answering 503", e);
        return Response.error(503, "request journal unavailable; retry later").header("Retry-After", "1");
    }

    /** The completion step of an answer, wherever the writer runs it; never throws. */
    void complete(JournalWriter.Answer a) {
        try {
            manager.complete(a.cx().requestId(), a.stored());
        } catch (RuntimeException e) {
            completionFailed(a.cx(), e);
        } finally {
            release(a.key(), a.cx().requestId());
        }
    }

    void completionFailed(Context cx, RuntimeException e) {
        journalErrors.increment();
        throttle.error(cx.logger(), "journal.complete", "cannot mark the request complete; it stays pending"
                + " and is replayed after a restart (or, with a shared journal, by another node)", e);
    }

    /** On a worker with a shared store, written from a virtual thread: a worker never waits for the database. */
    void putCustomData(Context cx, String key, String value) {
        if (!manager.store().shared() || io.stellane.task.Worker.current() == null) {
            manager.putCustomData(cx.requestId(), Map.of(key, value));
            return;
        }
        Thread.ofVirtual().name("stellane-custom-data").start(() -> {
            try {
                manager.putCustomData(cx.requestId(), Map.of(key, value));
            } catch (RuntimeException e) {
                journalErrors.increment();
                throttle.error(cx.logger(), "journal.custom", "cannot journal custom data of the request", e);
            }
        });
    }

    // ---------------------------------------------------------------- what is stored

    /**
     * The request's headers as journaled: the sensitive ones left out, unless the route of
     * {@code handler} opted in to them. Per header a length test, and case-insensitive compares only
     * for a name as long as a sensitive one; the route's opt-ins are looked up only once a sensitive
     * header is there.
     */
    List<HttpHeader> headersOf(Request req, Handler handler) {
        HttpHeaders h = req.nettyHeaders();
        List<HttpHeader> out = new ArrayList<>(h.size());
        String[] kept = null;
        for (Entry<String, String> e : h) {
            String name = e.getKey();
            if ((sensitiveLengths & 1L << Math.min(name.length(), 63)) != 0 && isOneOf(name, sensitive)) {
                if (kept == null) {
                    kept = server.journaledSensitiveHeaders(handler);
                }
                if (!isOneOf(name, kept)) {
                    continue;
                }
            }
            out.add(new HttpHeader(name, e.getValue()));
        }
        return out;
    }

    private static boolean isOneOf(String name, String[] names) {
        for (String n : names) {
            if (n.equalsIgnoreCase(name)) {
                return true;
            }
        }
        return false;
    }

    /**
     * The response as stored for an idempotency key: status, content type, the handler's headers and
     * the encoded body (a JSON body was serialized when the handler answered). Streaming responses
     * cannot be stored (null).
     */
    static StoredResponse toStored(Response r) {
        if (r == null) {
            return null;
        }
        byte[] bytes = ResponseBody.bytes(r.body);
        if (bytes == null) {
            return null; // a stream
        }
        String type = r.contentType;
        if (type == null && r.body instanceof ResponseBody.Constant c) {
            type = c.body().contentType.toString();
        }
        List<HttpHeader> headers = new ArrayList<>(2);
        if (type != null) {
            headers.add(new HttpHeader("Content-Type", type));
        }
        List<String> extra = r.headers;
        if (extra != null) {
            for (int i = 0; i < extra.size(); i += 2) {
                headers.add(new HttpHeader(extra.get(i), extra.get(i + 1)));
            }
        }
        return new StoredResponse(r.status, headers, bytes);
    }

    static Response fromStored(StoredResponse s) {
        Response r = Response.of(s.status());
        byte[] body = s.body();
        r.body = body.length == 0 && s.status() == 204 ? ResponseBody.EMPTY : new ResponseBody.Bytes(body);
        for (HttpHeader h : s.headers()) {
            if (h.name().equalsIgnoreCase("Content-Type")) {
                r.contentType = h.value();
            } else {
                r.header(h.name(), h.value());
            }
        }
        return r;
    }

    @Override
    public String toString() {
        return "RecoveryInterceptor[" + manager.store().config().path() + ", " + writer + "]";
    }
}
