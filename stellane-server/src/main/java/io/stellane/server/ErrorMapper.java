package io.stellane.server;

/**
 * Turns an exception thrown (or failed with) by a handler into a response. Registered per exception
 * type with {@code server.onError(Type.class, mapper)}; the most specific registered type wins.
 * Called on the connection's worker: must not block.
 */
@FunctionalInterface
public interface ErrorMapper<E extends Throwable> {
    Response toResponse(E error, Context ctx);
}
