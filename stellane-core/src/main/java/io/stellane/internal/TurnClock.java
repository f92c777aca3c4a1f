package io.stellane.internal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A recent {@link System#nanoTime()} reading that awake workers share, so that a thread off the
 * runtime can stamp a new task without reading the clock: on a virtual machine the read costs
 * 20–50 ns, as much as the rest of scheduling a trivial task from another thread.
 *
 * <p>A backend {@link #publish publishes} its loop clock at the start of each turn that has tasks
 * (a write only when the shared value is older than {@value #REFRESH_NANOS} ns, so many workers do
 * not fight over one cache line) and {@link #retract retracts} it before its thread waits for I/O.
 * A producer that wakes a sleeping worker publishes a reading in its name, just before the wake-up.
 * Each value carries its publisher's tag in its low bits, and a worker retracts only its own:
 * one worker going idle must not take the clock from the others, or threads off the runtime would
 * read the clock whenever any worker waits. A value other than none was therefore read for a
 * worker that has not waited since: at its wake-up or at the start of its current turn, or within
 * {@value #REFRESH_NANOS} ns of it (less at most 2 × {@value #TAGS} ns for the tag). When none is
 * published, {@link #recentOrNow()} reads the clock itself. Tags may collide (they are worker ids
 * modulo {@value #TAGS}): a collision only retracts a value early.
 *
 * <p>Threading: any thread. A plain volatile: loads are plain on x86, and stores are rare.
 */
public final class TurnClock {
    static final long REFRESH_NANOS = 50_000;
    static final int TAGS = 256;
    private static final long TAG_MASK = TAGS - 1;
    private static final long NONE = Long.MIN_VALUE;
    private static final VarHandle RECENT;
    /** On a cache line of its own: every task created off the runtime reads it. */
    private static final Slot SLOT = new Slot();

    static {
        try {
            RECENT = MethodHandles.lookup().findVarHandle(Slot.class, "recent", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused") // padding: the JVM lays out a superclass's fields first
    private abstract static class PadBefore {
        long p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12, p13, p14, p15;
    }

    private abstract static class Value extends PadBefore {
        volatile long recent = NONE;
    }

    @SuppressWarnings("unused")
    private static final class Slot extends Value {
        long q00, q01, q02, q03, q04, q05, q06, q07, q08, q09, q10, q11, q12, q13, q14, q15;
    }

    private TurnClock() {
    }

    /** A clock reading from a worker that is awake, or the clock now when none is. */
    public static long recentOrNow() {
        long r = SLOT.recent;
        return r != NONE ? r : System.nanoTime();
    }

    /** Called by worker {@code workerId} at the start of a turn with the turn's clock. */
    public static void publish(long nanos, int workerId) {
        long r = SLOT.recent;
        if (r == NONE || nanos - r > REFRESH_NANOS) {
            SLOT.recent = ((nanos - TAGS) & ~TAG_MASK) | (workerId & TAG_MASK); // never later than the reading
        }
    }

    /** Called by worker {@code workerId} before its thread waits, and when it ends: its reading would grow stale. */
    public static void retract(int workerId) {
        long r = SLOT.recent;
        if (r != NONE && (r & TAG_MASK) == (workerId & TAG_MASK)) {
            RECENT.compareAndSet(SLOT, r, NONE); // a newer value from another worker stays
        }
    }
}
