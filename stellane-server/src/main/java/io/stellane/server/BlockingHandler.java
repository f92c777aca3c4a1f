package io.stellane.server;

/**
 * A handler that may block: it runs on its own virtual thread, never on a worker. Register it with
 * {@code server.getBlocking(path, ctx -> ...)} or {@link Handler#blocking}.
 */
@FunctionalInterface
public interface BlockingHandler {
    Response handle(Context ctx) throws Exception;
}
