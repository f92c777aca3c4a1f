package io.stellane.server;

import io.stellane.task.Task;

import java.util.Objects;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * Middleware around handlers. A filter may act before ({@code next} not yet called), after
 * ({@code next.handle(ctx).map(...)}), or short-circuit (return a response without calling
 * {@code next}). Filters run in the order they were added, the first one outermost, on the
 * connection's worker: they must not block.
 */
@FunctionalInterface
public interface Filter {

    Task<Response> filter(Context ctx, Handler next) throws Exception;

    /** A filter that runs {@code check} first; a non-null response it returns short-circuits the request. */
    static Filter before(Function<Context, Response> check) {
        Objects.requireNonNull(check, "check");
        return (ctx, next) -> {
            Response early = check.apply(ctx);
            return early != null ? Task.completed(early) : next.handle(ctx);
        };
    }

    /** A filter that passes every response (including error responses of handlers) through {@code fn}. */
    static Filter after(BiFunction<Context, Response, Response> fn) {
        Objects.requireNonNull(fn, "fn");
        return (ctx, next) -> {
            Task<Response> t = next.handle(ctx).start();
            if (t.isDone() && !t.isFailed()) {
                return Task.completed(fn.apply(ctx, t.resultNow()));
            }
            return t.map(r -> fn.apply(ctx, r));
        };
    }
}
