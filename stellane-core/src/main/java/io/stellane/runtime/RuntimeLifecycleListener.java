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
}
