package io.stellane.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.stellane.logging.LogThrottle;
import io.stellane.task.Task;
import io.stellane.task.Worker;

import java.time.Duration;
import java.util.concurrent.CompletionException;
import java.util.function.BiConsumer;

/**
 * The middle of a request's way, whatever brought it: resolves its route, hands it to request
 * recovery when that journals it, calls the handler (filters included) as one of the worker's tasks,
 * and maps a failure to a response. Live requests come from a connection ({@link Exchange}); replays
 * use {@link #route} and {@link #mappedResponse} alone.
 *
 * <h2>How it works</h2>
 * {@link #dispatch} answers what needs no handler at once (404, 405, 501, {@code OPTIONS}), else
 * passes the request to the recovery interceptor, which journals it and comes back through
 * {@link #invoke}, or straight to {@link #invoke}. A handler's task that is already done is answered
 * there and then; otherwise its completion hops back to the exchange's loop. A JSON answer is
 * serialized at that point, so a value the mapper cannot write is the handler's failure like any
 * other. Either way the answer leaves through {@link #finish}: past the interceptor (a journaled
 * request is completed before its response is written), then to the exchange.
 *
 * <p>A failure no mapper answers is a 500, logged at ERROR with the request's id, method and path;
 * a handler that fails every request logs one line per {@link #ERROR_LOG_INTERVAL} per route and
 * exception class, with the count of the others (each of them at DEBUG).
 *
 * <p>Threading: built once when the server starts (routes, filters and mappers are frozen by then);
 * {@link #dispatch}, {@link #invoke} and {@link #finish} run on the exchange's loop.
 */
final class Dispatcher {
    static final Duration ERROR_LOG_INTERVAL = Duration.ofSeconds(10);

    private final Server server;
    private final RouteTree<Handler> routes;
    private final String allowAll;
    /** Null when request recovery is off: the hot path pays one null check. */
    final RecoveryInterceptor recovery;
    /** The server's mapper: request bodies are read and JSON answers written with it. */
    final ObjectMapper json;
    private final LogThrottle errorLog = new LogThrottle(ERROR_LOG_INTERVAL);

    Dispatcher(Server server, RouteTree<Handler> routes, RecoveryInterceptor recovery, ObjectMapper json) {
        this.server = server;
        this.routes = routes;
        this.allowAll = routes.allowAll();
        this.recovery = recovery;
        this.json = json;
    }

    String allowAll() {
        return allowAll;
    }

    Server server() {
        return server;
    }

    // ---------------------------------------------------------------- live requests

    /** A complete request arrived on {@code ex}: route it and answer it. */
    void dispatch(Exchange ex, Context cx) {
        server.requests.increment();
        Request req = cx.request();
        String path = req.path();
        if (path == Request.ASTERISK) { // OPTIONS * (validated by the connection)
            ex.respond(cx, Response.ok().header("Allow", allowAll));
            return;
        }
        int m = RouteTree.methodIndex(req.method());
        if (m < 0) {
            ex.respond(cx, Response.error(501, "Not Implemented"));
            return;
        }
        String[] params = routes.maxParams() == 0 ? null : new String[routes.maxParams()];
        RouteTree.Endpoint<Handler> ep = routes.find(path, params);
        if (ep == null) {
            ex.respond(cx, Response.error(404, "Not Found"));
            return;
        }
        Handler handler = handlerOf(ep, m);
        if (handler == null) {
            Response r = m == RouteTree.OPTIONS ? Response.noContent() : Response.error(405, "Method Not Allowed");
            ex.respond(cx, r.header("Allow", ep.allow()));
            return;
        }
        matched(cx, ep, params);
        RecoveryInterceptor rec = recovery;
        if (rec != null && rec.admit(ex, cx, handler)) {
            return; // journaled first: it calls invoke (or answers without the handler)
        }
        invoke(ex, cx, handler);
    }

    /**
     * Calls the handler and starts its task, here on the worker, counted as one of the worker's tasks
     * (the handler's own work included, however little of it the task does).
     */
    void invoke(Exchange ex, Context cx, Handler handler) {
        Worker w = ex.worker();
        long began = w == null ? 0 : w.beginInline();
        Task<Response> task;
        try {
            task = handler.handle(cx);
            if (task == null) {
                throw new NullPointerException("handler for " + cx.route() + " returned null instead of a Task");
            }
            task.start();
        } catch (Throwable t) {
            if (w != null) {
                w.endInline(began);
            }
            failed(ex, cx, null, t);
            finish(ex, cx, mapError(t, cx));
            return;
        }
        if (w != null) {
            w.endInline(began);
        }
        if (task.isDone()) {
            completed(ex, cx, task);
        } else {
            task.onComplete(new Completion(this, ex, cx, task));
        }
    }

    /** An async handler's task completed: back to the exchange's loop if it completed elsewhere. */
    private record Completion(Dispatcher d, Exchange ex, Context cx, Task<Response> task)
            implements BiConsumer<Response, Throwable>, Runnable {
        @Override
        public void accept(Response response, Throwable error) {
            ex.onLoop(this);
        }

        @Override
        public void run() {
            d.completed(ex, cx, task);
            ex.flush();
        }
    }

    private void completed(Exchange ex, Context cx, Task<Response> task) {
        if (task.isFailed()) {
            failed(ex, cx, task, task.exceptionNow());
            finish(ex, cx, mapError(task.exceptionNow(), cx));
            return;
        }
        Response r = task.resultNow();
        if (r == null) {
            r = mapError(new NullPointerException("handler for " + cx.route() + " completed with a null Response"), cx);
        } else {
            try {
                Json.encode(r, json);
            } catch (Throwable t) {
                failed(ex, cx, null, t);
                r = mapError(t, cx);
            }
        }
        finish(ex, cx, r);
    }

    /** The handler's answer is ready: a journaled request is completed in the journal before it is written. */
    void finish(Exchange ex, Context cx, Response r) {
        if (cx.recoveryState != null) {
            recovery.answered(ex, cx, r);
        } else {
            ex.respond(cx, r);
        }
    }

    /**
     * A handler failed (threw, or its task failed): counted as its worker's failed task and told to the
     * runtime's error handlers ({@code Server.onTaskError}, {@code Runtime.onTaskError}); the response is
     * still the error mappers'. A handler that threw has no task: the report gets a failed one named
     * after the request.
     */
    private static void failed(Exchange ex, Context cx, Task<Response> task, Throwable error) {
        Worker w = ex.worker();
        if (w != null) {
            Task<?> t = task != null ? task
                    : Task.failed(error).named(cx.request().method() + " " + (cx.route() == null ? "?" : cx.route()));
            w.inlineFailed(t, unwrap(error));
        }
    }

    // ---------------------------------------------------------------- routes, for live requests and replays

    /** The route handler (with filters) for {@code cx}'s request, setting its route and parameters; null when none. */
    Handler route(Context cx) {
        Request req = cx.request();
        int m = RouteTree.methodIndex(req.method());
        if (m < 0) {
            return null;
        }
        String[] params = routes.maxParams() == 0 ? null : new String[routes.maxParams()];
        RouteTree.Endpoint<Handler> ep = routes.find(req.path(), params);
        if (ep == null) {
            return null;
        }
        Handler h = handlerOf(ep, m);
        if (h != null) {
            matched(cx, ep, params);
        }
        return h;
    }

    private static Handler handlerOf(RouteTree.Endpoint<Handler> ep, int m) {
        Handler h = ep.value(m);
        return h == null && m == RouteTree.HEAD ? ep.value(RouteTree.GET) : h;
    }

    private static void matched(Context cx, RouteTree.Endpoint<Handler> ep, String[] params) {
        if (ep.paramCount() > 0) {
            cx.params(ep.paramNames(), params);
        }
        cx.routePattern = ep.pattern();
    }

    // ---------------------------------------------------------------- errors

    /**
     * The response for a handler failure: a mapper's, an HttpException's status, or the generic 500,
     * which is counted and logged (throttled per route and exception class).
     */
    Response mapError(Throwable error, Context cx) {
        error = unwrap(error);
        Response mapped = mappedResponse(error, cx);
        if (mapped != null) {
            return mapped;
        }
        server.handlerErrors.increment();
        Request req = cx.request();
        String route = cx.route() == null ? "?" : cx.route();
        String line = "handler failed, answered 500: " + req.method() + " " + req.path() + " (route " + route + ")";
        if (!errorLog.error(cx.logger(), req.method() + " " + route, line, error) && server.log.isDebugEnabled()) {
            cx.logger().debug(line, error);
        }
        return Response.ok(Response.errorJson("Internal Server Error", cx.requestId()), Response.APPLICATION_JSON).status(500);
    }

    /**
     * The response the server gives live for {@code error} when it maps it (an error mapper, an
     * {@link HttpException}), or null for a failure it would answer with the generic 500. A mapper
     * that throws, or whose JSON body cannot be serialized, is added to {@code error} as suppressed.
     */
    Response mappedResponse(Throwable error, Context cx) {
        ErrorMapper<Throwable> m = server.errorMapper(error.getClass());
        if (m != null) {
            try {
                Response r = m.toResponse(error, cx);
                if (r != null) {
                    return Json.encode(r, json);
                }
            } catch (Throwable t) {
                error.addSuppressed(t);
            }
        }
        if (error instanceof HttpException he) {
            return Response.ok(Response.errorJson(he.getMessage(), cx.requestId()), Response.APPLICATION_JSON).status(he.status());
        }
        return null;
    }

    static Throwable unwrap(Throwable error) {
        if (error instanceof CompletionException && error.getCause() != null) {
            return error.getCause();
        }
        return error;
    }
}
