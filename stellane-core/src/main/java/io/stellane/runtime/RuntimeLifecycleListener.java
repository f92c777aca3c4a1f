package io.stellane.runtime;

/**
 * Told when the runtime stops and restarts, so what lives on its workers (a server's listeners and
 * connections) can drain before the workers end and come back on the new ones. Register with
 * {@link Runtime#addLifecycleListener}.
 *
 * <p>Threading: called on the thread that stops or restarts the runtime (never a worker: a stop or
 * restart asked for on a worker runs on a thread of its own), one listener after the other, in
 * registration order. A listener may block (drain connections, wait for requests in flight); it must
 * not call {@code Runtime.init}, {@code stop} or {@code restart} itself.
 */
public interface RuntimeLifecycleListener {

    /**
     * The runtime is about to stop its workers; they still run. {@code restarting}: new workers follow
     * ({@link #restarted()} is called then), so keep what should outlive this life of the runtime.
     */
    default void stopping(boolean restarting) {
    }

    /** A restart's new workers run. */
    default void restarted() {
    }

    /**
     * A worker was added while the runtime runs ({@code worker_threads} raised, or scaling): it runs,
     * and takes tasks. Called on the thread that resized the runtime.
     */
    default void workerAdded(int workerId, io.stellane.backend.EventLoopBackend backend) {
    }

    /**
     * A worker is retiring: no new task is placed on it, and it ends once what it holds is done and
     * every listener's returned stage has completed (or after {@code shutdown_timeout} past the
     * listener's own bound). Move what lives on it elsewhere or let it finish there (a server stops
     * accepting on it and lets its connections end after their next response); complete the stage
     * when nothing of yours is left on it. Its loop still runs meanwhile.
     */
    default java.util.concurrent.CompletionStage<?> workerRetiring(int workerId,
                                                                  io.stellane.backend.EventLoopBackend backend) {
        return java.util.concurrent.CompletableFuture.completedFuture(null);
    }
}
