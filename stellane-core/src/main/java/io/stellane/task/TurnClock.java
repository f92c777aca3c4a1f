package io.stellane.task;

/**
 * A recent {@link System#nanoTime()} reading that awake workers share, so that a thread off the
 * runtime can stamp a new task without reading the clock: on a virtual machine the read costs
 * 20–50 ns, as much as the rest of scheduling a trivial task from another thread.
 *
 * <p>A backend {@link #publish publishes} its loop clock at the start of each turn (a write only
 * when the shared value is older than {@value #REFRESH_NANOS} ns, so many workers do not fight
 * over one cache line) and {@link #retract retracts} it before its thread sleeps. A value other
 * than none was therefore read by a worker that is still in its turn, or within
 * {@value #REFRESH_NANOS} ns of one; when every worker sleeps, {@link #recentOrNow()} reads the
 * clock itself.
 *
 * <p>Threading: any thread. A plain volatile: loads are plain on x86, and stores are rare.
 */
public final class TurnClock {
    static final long REFRESH_NANOS = 50_000;
    private static final long NONE = Long.MIN_VALUE;
    private static volatile long recent = NONE;

    private TurnClock() {
    }

    /** A clock reading from a worker that is awake, or the clock now when none is. */
    public static long recentOrNow() {
        long r = recent;
        return r != NONE ? r : System.nanoTime();
    }

    /** Called by a worker at the start of a turn with the turn's clock. */
    public static void publish(long nanos) {
        long r = recent;
        if (r == NONE || nanos - r > REFRESH_NANOS) {
            recent = nanos;
        }
    }

    /** Called by a worker before its thread sleeps: its reading would grow stale. */
    public static void retract() {
        if (recent != NONE) {
            recent = NONE;
        }
    }
}
