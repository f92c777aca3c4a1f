package io.stellane.internal;

import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The shared turn clock on its own (no runtime runs in this class, so nothing else publishes). */
class TurnClockTest {
    private static final int W0 = 0, W1 = 1;

    @AfterEach
    void retract() {
        TurnClock.retract(W0);
        TurnClock.retract(W1);
    }

    @Test
    void withNoWorkerAwakeItReadsTheClock() {
        long before = System.nanoTime();
        long read = TurnClock.recentOrNow();
        assertThat(read).isBetween(before, System.nanoTime());
    }

    @Test
    void aPublishedTurnIsSharedUntilItsWorkerRetractsIt() {
        long turn = System.nanoTime() - 1_000_000; // plainly not a fresh read
        TurnClock.publish(turn, W0);
        assertThat(TurnClock.recentOrNow()).as("the turn, less at most two tags' worth for the tag")
                .isBetween(turn - 2L * TurnClock.TAGS, turn);
        TurnClock.retract(W0);
        assertThat(TurnClock.recentOrNow()).isGreaterThan(turn);
    }

    @Test
    void anotherWorkerWaitingLeavesTheClockPublished() {
        long turn = System.nanoTime() - 1_000_000;
        TurnClock.publish(turn, W0);
        long shared = TurnClock.recentOrNow();
        TurnClock.retract(W1);
        assertThat(TurnClock.recentOrNow()).as("worker 1 going idle does not make worker 0's turn stale").isEqualTo(shared);
        TurnClock.retract(W0);
        assertThat(TurnClock.recentOrNow()).isGreaterThan(turn);
    }

    @Test
    void aNewerTurnReplacesTheValueOnlyWhenItIsOldEnough() {
        long turn = System.nanoTime() - 1_000_000;
        TurnClock.publish(turn, W0);
        long first = TurnClock.recentOrNow();
        TurnClock.publish(turn + TurnClock.REFRESH_NANOS / 2, W1);
        assertThat(TurnClock.recentOrNow()).as("within the refresh window: one cache line write saved").isEqualTo(first);
        long later = turn + 2 * TurnClock.REFRESH_NANOS;
        TurnClock.publish(later, W1);
        assertThat(TurnClock.recentOrNow()).isBetween(later - 2L * TurnClock.TAGS, later);
        TurnClock.retract(W0);
        assertThat(TurnClock.recentOrNow()).as("worker 0's retract leaves worker 1's value").isLessThanOrEqualTo(later);
    }

    @Test
    void tasksCreatedOffTheRuntimeTakeThePublishedTurn() {
        long turn = System.nanoTime() - 1_000_000;
        TurnClock.publish(turn, W0);
        assertThat(Task.of(() -> { }).createdNanos()).isEqualTo(TurnClock.recentOrNow()).isLessThanOrEqualTo(turn);
    }
}
