package io.stellane.server;

import io.stellane.task.Task;

import java.util.Objects;

/**
 * Handles one request: {@code ctx -> Task<Response>}.
 *
 * <p>Threading: called on the connection's worker (event-loop thread); it must not block. A handler
 * that returns an already completed task (e.g. {@code Task.completed(Response.ok())}) is answered
 * at once, with no hop. For blocking code (JDBC, files), register a {@link BlockingHandler} through
 * {@link #blocking} or {@code server.getBlocking(...)}: it runs on a virtual thread.
 */
@FunctionalInterface
public interface Handler {

    Task<Response> handle(Context ctx) throws Exception;

    /**
     * A handler that runs {@code handler} on a virtual thread ({@link Task#blocking}); the response hops
     * back to the worker. A JSON body is serialized on the virtual thread too, off the worker.
     */
    static Handler blocking(BlockingHandler handler) {
        Objects.requireNonNull(handler, "handler");
        return ctx -> Task.blocking(() -> {
            Response r = handler.handle(ctx);
            return r == null ? null : Json.encode(r, ctx.dispatcher().json);
        });
    }
}
