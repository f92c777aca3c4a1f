package io.stellane.server;

import io.netty.buffer.ByteBufUtil;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.stellane.logging.LogThrottle;
import io.stellane.recovery.HttpHeader;
import io.stellane.recovery.JournalFullException;
import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.RecoveryManager;
import io.stellane.recovery.RecoveryMetadata;
import io.stellane.recovery.StoredResponse;
import io.stellane.recovery.SyncPolicy;
import io.stellane.runtime.Runtime;
import io.stellane.server.routing.RouteTree;
import io.stellane.task.Task;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Map.Entry;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Predicate;

/**
 * Request recovery inside the server: journaling around the handler, idempotency keys, replays.
 *
 * <h2>How it works</h2>
 * For a request the predicate selects, {@link #admit} gives it a process-unique-across-restarts id
 * (a random 64-bit boot id plus a counter), claims its {@code Idempotency-Key} in an in-memory
 * map (a second claim while the first is in flight is a 409), answers from the stored response if the
 * key already completed, else appends the request to the journal and runs the handler. When the
 * handler's response is ready, {@link #onResponse} completes the journal entry (storing the response
 * for the key), releases the claim and only then lets the connection write it: a response a client
 * received is never replayed after a crash. A failed append is a 503 and the handler does not run.
 *
 * <p>Where it runs: under {@link SyncPolicy#NONE} and {@link SyncPolicy#INTERVAL} journal calls only
 * touch memory (mmap pages or RocksDB's memtable plus an unsynced WAL write) and run inline on the
 * connection's worker. Under {@link SyncPolicy#ALWAYS} each append and completion waits for the disk,
 * so they run in {@link Task#blocking} and the connection continues on its worker when they return.
 *
 * <p>A journal that fails (a full disk) fails every request the same way: each failure is counted
 * in {@link #stats()}, but logged at most once per {@link #LOG_INTERVAL} per kind, with the count.
 */
final class ServerRecovery {
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
    final Predicate<Request> journalIf;
    /** Headers left out of the journal unless the route opts in ({@link Server#journalSensitiveHeaders}). */
    private final String[] sensitive;
    /** Bit n set when a sensitive name is n chars long (bit 63: 63 or more): most names need no compare. */
    private final long sensitiveLengths;
    final boolean blockingIo;
    /** Journal writes of a loop turn go to the store together (see {@link GroupCommit}). */
    final boolean grouped;
    private final ConcurrentHashMap<String, String> inFlightKeys = new ConcurrentHashMap<>();
    private final LongAdder rejectedFull = new LongAdder();
    private final LongAdder journalErrors = new LongAdder();
    private final LongAdder idempotentReplays = new LongAdder();
    private final LongAdder conflicts = new LongAdder();
    private final LogThrottle throttle = new LogThrottle(LOG_INTERVAL);

    ServerRecovery(Server server, RecoveryManager manager, Predicate<Request> journalIf) {
        this.server = server;
        this.manager = manager;
        this.journalIf = journalIf;
        this.sensitive = manager.store().config().sensitiveHeaders().toArray(String[]::new);
        long lengths = 0;
        for (String name : sensitive) {
            lengths |= 1L << Math.min(name.length(), 63);
        }
        this.sensitiveLengths = lengths;
        this.blockingIo = manager.store().config().syncPolicy() == SyncPolicy.ALWAYS;
        this.grouped = !blockingIo && manager.store().groupsWrites();
    }

    /** A fresh id, unique across restarts: 64 random bits chosen at class load, then a counter. */
    static String newRequestId() {
        return BOOT_ID + "-" + Long.toHexString(SEQ.incrementAndGet());
    }

    RecoveryStats stats() {
        RecoveryManager.Counters c = manager.counters();
        return new RecoveryStats(c.journaled(), c.completed(), c.recovered(), c.failedAttempts(), c.quarantined(),
                rejectedFull.sum(), journalErrors.sum(), idempotentReplays.sum(), conflicts.sum());
    }

    // ---------------------------------------------------------------- live requests (on the connection's worker)

    /** Journals {@code cx}'s request, then runs {@code handler} through the connection; or answers without running it. */
    void admit(Connection conn, Context cx, Handler handler) {
        String id = newRequestId();
        cx.presetRequestId(id);
        String key = cx.request().header(IDEMPOTENCY_KEY);
        if (key != null) {
            String owner = inFlightKeys.putIfAbsent(key, id);
            if (owner != null) {
                conflicts.increment();
                conn.respondUnjournaled(cx, Response.error(409,
                        "a request with this Idempotency-Key is still in progress; retry later"));
                return;
            }
        }
        if (grouped && !offloaded(cx.request())) {
            Response early;
            try {
                early = storedAnswer(key, id);
                if (early == null) {
                    groups.get().admit(conn, cx, handler, toJournaled(cx, handler, id, key), key);
                    return;
                }
            } catch (RuntimeException e) {
                early = journalFailed(cx, key, e);
            }
            conn.respondUnjournaled(cx, early);
            return;
        }
        if (!blockingIo && !offloaded(cx.request())) {
            Response early = journal(cx, handler, id, key);
            if (early == null) {
                conn.runHandler(cx, handler);
            } else {
                conn.respondUnjournaled(cx, early);
            }
            return;
        }
        Task.blocking(() -> journal(cx, handler, id, key)).onComplete((early, error) -> conn.onLoop(() -> {
            if (error != null) {
                conn.respondUnjournaled(cx, journalFailed(cx, key, error));
            } else if (early == null) {
                conn.runHandler(cx, handler);
            } else {
                conn.respondUnjournaled(cx, early);
            }
            conn.flushOutsideRead();
        }));
    }

    /**
     * Journal writes of more than this many body bytes run on a virtual thread whatever the sync
     * policy: copying 64 KiB into the journal takes microseconds, but megabytes fault in fresh pages and
     * meet the kernel's dirty-page throttling, which can hold the writing thread for seconds.
     */
    static final int OFFLOAD_BYTES = 64 * 1024;

    private static boolean offloaded(Request request) {
        return request.body().length > OFFLOAD_BYTES;
    }

    /** Appends the request; null when the handler may run, else the answer to send instead. */
    private Response journal(Context cx, Handler handler, String id, String key) {
        try {
            Response early = storedAnswer(key, id);
            if (early != null) {
                return early;
            }
            manager.journal(toJournaled(cx, handler, id, key));
            cx.recoveryState = new Context.RecoveryState(server, null);
            return null;
        } catch (RuntimeException e) {
            return journalFailed(cx, key, e);
        }
    }

    /** The stored answer for an idempotency key that already completed, or null. */
    private Response storedAnswer(String key, String id) {
        if (key == null) {
            return null;
        }
        Optional<StoredResponse> stored = manager.idempotentResponse(key);
        if (stored.isEmpty()) {
            return null;
        }
        inFlightKeys.remove(key, id);
        idempotentReplays.increment();
        return fromStored(stored.get()).header(IDEMPOTENT_REPLAY, "true");
    }

    private JournaledRequest toJournaled(Context cx, Handler handler, String id, String key) {
        Request req = cx.request();
        return new JournaledRequest(id, Instant.now(), req.method(), req.target(), headersOf(req, handler), req.body(),
                key);
    }

    private Response journalFailed(Context cx, String key, Throwable e) {
        if (key != null) {
            inFlightKeys.remove(key, cx.requestId());
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

    /**
     * The handler's response is ready: complete the journal entry (storing the response for its key),
     * then let the connection write it. A failed completion is logged and counted; the request will be
     * replayed after a restart (at-least-once), never lost.
     */
    void onResponse(Connection conn, Context cx, Response r) {
        String key = cx.request().header(IDEMPOTENCY_KEY);
        StoredResponse stored = key == null ? null : toStored(r);
        boolean large = stored != null && stored.body().length > OFFLOAD_BYTES;
        if (grouped && !large) {
            groups.get().answer(conn, cx, r, key, stored);
            return;
        }
        if (!blockingIo && !large) {
            complete(cx, key, stored);
            conn.respondUnjournaled(cx, r);
            return;
        }
        Task.blocking(() -> {
            complete(cx, key, stored);
            return null;
        }).onComplete((v, e) -> conn.onLoop(() -> {
            conn.respondUnjournaled(cx, r);
            conn.flushOutsideRead();
        }));
    }

    private void complete(Context cx, String key, StoredResponse stored) {
        try {
            manager.complete(cx.requestId(), stored);
        } catch (RuntimeException e) {
            completionFailed(cx, e);
        } finally {
            if (key != null) {
                inFlightKeys.remove(key, cx.requestId());
            }
        }
    }

    private void completionFailed(Context cx, RuntimeException e) {
        journalErrors.increment();
        throttle.error(cx.logger(), "journal.complete", "cannot mark the request complete; it will be replayed"
                + " after a restart", e);
    }

    /**
     * Group commit: the journal writes a worker makes in one loop turn (appends before handlers,
     * completions before responses) wait in here and go to the store together, in a task that runs
     * on the same loop once the turn's I/O is handled; the RocksDB store writes each group as one
     * batch, one WAL write instead of one per request. Handlers and responses continue from that
     * task, in arrival order. Confined to the worker's thread.
     */
    private final ThreadLocal<GroupCommit> groups = ThreadLocal.withInitial(GroupCommit::new);

    private record Admitted(Connection conn, Context cx, Handler handler, JournaledRequest request, String key) {
    }

    private record Answered(Connection conn, Context cx, Response response, String key, StoredResponse stored) {
    }

    private final class GroupCommit implements Runnable {
        private ArrayList<Admitted> admitted = new ArrayList<>();
        private ArrayList<Answered> answered = new ArrayList<>();
        private boolean scheduled;

        void admit(Connection conn, Context cx, Handler handler, JournaledRequest request, String key) {
            admitted.add(new Admitted(conn, cx, handler, request, key));
            schedule(conn);
        }

        void answer(Connection conn, Context cx, Response response, String key, StoredResponse stored) {
            answered.add(new Answered(conn, cx, response, key, stored));
            schedule(conn);
        }

        private void schedule(Connection conn) {
            if (!scheduled) {
                scheduled = true;
                conn.executor().execute(this);
            }
        }

        @Override
        public void run() {
            try {
                // handlers that answer at once add to the next round of completions, committed here too
                while (!admitted.isEmpty() || !answered.isEmpty()) {
                    if (!admitted.isEmpty()) {
                        ArrayList<Admitted> group = admitted;
                        admitted = new ArrayList<>();
                        commitAdmitted(group);
                    }
                    if (!answered.isEmpty()) {
                        ArrayList<Answered> group = answered;
                        answered = new ArrayList<>();
                        commitAnswered(group);
                    }
                }
            } finally {
                scheduled = false;
            }
        }

        private void commitAdmitted(List<Admitted> group) {
            List<JournaledRequest> requests = new ArrayList<>(group.size());
            for (Admitted a : group) {
                requests.add(a.request);
            }
            List<RuntimeException> failures = perMember(group.size(), () -> manager.journalAll(requests));
            for (int i = 0; i < group.size(); i++) {
                Admitted a = group.get(i);
                RuntimeException failure = failures.get(i);
                if (failure != null) {
                    a.conn.respondUnjournaled(a.cx, journalFailed(a.cx, a.key, failure));
                } else {
                    a.cx.recoveryState = new Context.RecoveryState(server, null);
                    a.conn.runHandler(a.cx, a.handler);
                }
                a.conn.flushOutsideRead();
            }
        }

        /** A group call's failure for each member: its own, or the one that failed the whole call. */
        private static List<RuntimeException> perMember(int size, java.util.function.Supplier<List<RuntimeException>> call) {
            try {
                return call.get();
            } catch (RuntimeException e) {
                return java.util.Collections.nCopies(size, e);
            }
        }

        private void commitAnswered(List<Answered> group) {
            List<String> ids = new ArrayList<>(group.size());
            List<StoredResponse> stored = new ArrayList<>(group.size());
            for (Answered a : group) {
                ids.add(a.cx.requestId());
                stored.add(a.stored);
            }
            List<RuntimeException> failures = perMember(group.size(), () -> manager.completeAll(ids, stored));
            for (int i = 0; i < group.size(); i++) {
                Answered a = group.get(i);
                RuntimeException failure = failures.get(i);
                if (failure != null) {
                    completionFailed(a.cx, failure);
                }
                if (a.key != null) {
                    inFlightKeys.remove(a.key, a.cx.requestId());
                }
                a.conn.respondUnjournaled(a.cx, a.response);
                a.conn.flushOutsideRead();
            }
        }
    }

    void putCustomData(Context cx, String key, String value) {
        manager.putCustomData(cx.requestId(), Map.of(key, value));
    }

    // ---------------------------------------------------------------- replays

    /** For {@link RecoveryManager#recoverAll}: runs the replay on a worker and hands its result back. */
    Task<StoredResponse> replay(JournaledRequest jr, RecoveryMetadata meta, List<RecoverHookWithMetadata> hooks) {
        CompletableFuture<StoredResponse> done = new CompletableFuture<>();
        // a live request with the same key meanwhile gets 409 (recover() after listen); released when the
        // replay ends, a moment before recoverAll completes the entry and stores the answer
        String key = jr.idempotencyKey();
        boolean claimed = key != null && inFlightKeys.putIfAbsent(key, jr.requestId()) == null;
        if (claimed) {
            done.whenComplete((v, e) -> inFlightKeys.remove(key, jr.requestId()));
        }
        Runtime.schedule(Task.of(() -> {
            Request req = toRequest(jr);
            Context cx = new Context(server, req, jr.requestId(), meta);
            Task<StoredResponse> t;
            try {
                t = startReplay(cx, req, jr, meta, hooks);
            } catch (Throwable e) {
                settle(done, null, e, cx);
                return;
            }
            t.onComplete((v, e) -> settle(done, v, e, cx));
        }).named("recovery-replay"));
        return Task.from(done);
    }

    /**
     * Ends a replay the way the live request would have ended: a failure the server maps to a client
     * error live (an error mapper's 4xx, an {@link HttpException} 4xx, e.g. a validation error) is
     * that answer, stored like any other, since replaying it again would only fail again. Unmapped
     * failures and mapped 5xx (a database that is down, say) stay failures: the attempt is counted
     * and the request retried or quarantined.
     */
    private void settle(CompletableFuture<StoredResponse> done, StoredResponse value, Throwable error, Context cx) {
        if (error == null) {
            done.complete(value);
            return;
        }
        Throwable cause = Server.unwrap(error);
        Response mapped;
        try {
            mapped = server.mappedResponse(cause, cx);
        } catch (RuntimeException e) {
            mapped = null;
        }
        if (mapped != null && mapped.status >= 400 && mapped.status < 500) {
            cx.logger().info("replay answered {} as live: {}", mapped.status, cause.toString());
            done.complete(toStored(mapped));
        } else {
            done.completeExceptionally(error);
        }
    }

    private Task<StoredResponse> startReplay(Context cx, Request req, JournaledRequest jr, RecoveryMetadata meta,
                                             List<RecoverHookWithMetadata> hooks) throws Exception {
        Handler original = server.routeFor(cx);
        cx.recoveryState.originalHandler = original;
        if (hooks.isEmpty()) {
            if (original == null) {
                throw new IllegalStateException("no route for " + jr.method() + " " + req.path()
                        + " and no onRecover hook: cannot replay");
            }
            Task<Response> t = original.handle(cx);
            if (t == null) {
                throw new NullPointerException("handler for " + cx.route() + " returned null instead of a Task");
            }
            return t.map(ServerRecovery::toStored);
        }
        Task<Object> chain = Task.completed(null);
        for (RecoverHookWithMetadata hook : hooks) {
            chain = chain.flatMap(previous -> {
                try {
                    @SuppressWarnings("unchecked")
                    Task<Object> next = (Task<Object>) hook.recover(cx, req, meta);
                    if (next == null) {
                        return Task.failed(new NullPointerException("onRecover hook " + hook + " returned null"));
                    }
                    return next;
                } catch (Exception e) {
                    return Task.failed(e);
                }
            });
        }
        return chain.map(last -> {
            Response r = last instanceof Response resp ? resp : cx.recoveryState.replayResponse;
            return r == null ? null : toStored(r);
        });
    }

    static Request toRequest(JournaledRequest jr) {
        HttpHeaders h = DefaultHttpHeadersFactory.headersFactory().withValidation(false).newHeaders();
        for (HttpHeader hh : jr.headers()) {
            h.add(hh.name(), hh.value());
        }
        String target = jr.target();
        DefaultHttpRequest head = new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.valueOf(jr.method()), target, h);
        int start = 0;
        if (!target.startsWith("/")) {
            int authority = target.indexOf("://");
            int slash = authority < 0 ? -1 : target.indexOf('/', authority + 3);
            start = slash < 0 ? target.length() : slash;
        }
        int q = target.indexOf('?', start);
        String path = q < 0 ? target.substring(start) : target.substring(start, q);
        String query = q < 0 ? "" : target.substring(q + 1);
        if (path.isEmpty()) {
            path = "/";
        }
        return new Request(head, jr.method(), path, query, jr.body());
    }

    // ---------------------------------------------------------------- conversions

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
     * the encoded body. A JSON body is encoded here once and the response keeps the bytes. Streaming
     * responses cannot be stored (null).
     */
    static StoredResponse toStored(Response r) {
        if (r == null) {
            return null;
        }
        Object b = r.body;
        String type = r.contentType;
        byte[] bytes;
        try {
            if (b == null) {
                bytes = new byte[0];
            } else if (b instanceof byte[] a) {
                bytes = a;
            } else if (b instanceof String s) {
                bytes = s.getBytes(StandardCharsets.UTF_8);
            } else if (b instanceof Body k) {
                bytes = ByteBufUtil.getBytes(k.buffer, k.buffer.readerIndex(), k.buffer.readableBytes());
                if (type == null) {
                    type = k.contentType.toString();
                }
            } else if (b instanceof Response.Json j) {
                bytes = Json.MAPPER.writeValueAsBytes(j.value());
                r.body = bytes;
            } else {
                return null; // a stream
            }
        } catch (Exception e) {
            return null; // the connection reports the encoding failure when it writes
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
        r.body = body.length == 0 && s.status() == 204 ? null : body;
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
        return "ServerRecovery[" + Arrays.asList(manager.store().config().path(), manager.store().config().syncPolicy()) + "]";
    }
}
