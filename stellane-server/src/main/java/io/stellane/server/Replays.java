package io.stellane.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpVersion;
import io.stellane.recovery.HttpHeader;
import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.RecoveryManager;
import io.stellane.recovery.RecoveryMetadata;
import io.stellane.recovery.StoredResponse;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.task.Task;

import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Replays of the requests a crash left unanswered, for {@link RecoveryManager#recoverAll}: each one
 * rebuilt from the journal and run on a worker through the {@code onRecover} hooks in registration
 * order or, with none, through its route's handler (filters included), as resolved by the
 * {@link Dispatcher}. It ends the way the live request would have: see {@link #settle}.
 *
 * <p>Threading: {@link #replay} is called by {@code recoverAll} on the thread that recovers; the
 * replay itself runs on a worker.
 */
final class Replays implements RecoveryManager.Replayer {
    private final Dispatcher dispatcher;
    private final RecoveryInterceptor recovery;
    private final List<RecoverHook> hooks;

    private final StellaneRuntime runtime;

    Replays(Dispatcher dispatcher, List<RecoverHook> hooks, StellaneRuntime runtime) {
        this.dispatcher = dispatcher;
        this.runtime = runtime;
        this.recovery = dispatcher.recovery;
        this.hooks = List.copyOf(hooks);
    }

    @Override
    public Task<StoredResponse> replay(JournaledRequest jr, RecoveryMetadata meta) {
        CompletableFuture<StoredResponse> done = new CompletableFuture<>();
        // a live request with the same key meanwhile gets 409 (recover() after listen); released when the
        // replay ends, a moment before recoverAll completes the entry and stores the answer
        String key = jr.idempotencyKey();
        if (key != null && recovery.claim(key, jr.requestId())) {
            done.whenComplete((v, e) -> recovery.release(key, jr.requestId()));
        }
        runtime.schedule(Task.of(() -> {
            Request req = toRequest(jr, dispatcher.json);
            Context cx = new Context(dispatcher, req, jr.requestId(), meta);
            Task<StoredResponse> t;
            try {
                t = start(cx, req, jr, meta);
            } catch (Throwable e) {
                settle(done, null, e, cx);
                return;
            }
            t.onComplete((v, e) -> settle(done, v, e, cx));
        }).named("recovery-replay"));
        return Task.from(done);
    }

    private Task<StoredResponse> start(Context cx, Request req, JournaledRequest jr, RecoveryMetadata meta) throws Exception {
        Handler original = dispatcher.route(cx);
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
            return t.flatMap(this::stored);
        }
        Task<Object> chain = Task.completed(null);
        for (RecoverHook hook : hooks) {
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
        return chain.flatMap(last -> stored(last instanceof Response resp ? resp : cx.recoveryState.replayResponse));
    }

    /** What is stored for the replay's answer: JSON serialized as live, so a value that cannot be fails the replay. */
    private Task<StoredResponse> stored(Response r) {
        if (r == null) {
            return Task.completed(null);
        }
        try {
            return Task.completed(RecoveryInterceptor.toStored(Json.encode(r, dispatcher.json)));
        } catch (Exception e) {
            return Task.failed(e);
        }
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
        Throwable cause = Dispatcher.unwrap(error);
        Response mapped;
        try {
            mapped = dispatcher.mappedResponse(cause, cx);
        } catch (RuntimeException e) {
            mapped = null;
        }
        if (mapped != null && mapped.status >= 400 && mapped.status < 500) {
            cx.logger().info("replay answered {} as live: {}", mapped.status, cause.toString());
            done.complete(RecoveryInterceptor.toStored(mapped));
        } else {
            done.completeExceptionally(error);
        }
    }

    /** The journaled request as its handler sees it live. */
    static Request toRequest(JournaledRequest jr, ObjectMapper json) {
        HttpHeaders h = DefaultHttpHeadersFactory.headersFactory().withValidation(false).newHeaders();
        for (HttpHeader hh : jr.headers()) {
            h.add(hh.name(), hh.value());
        }
        return Request.of(new DefaultHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.valueOf(jr.method()), jr.target(), h),
                jr.body(), json);
    }
}
