package io.stellane.task;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The shared turn clock on its own (no runtime runs in this class, so nothing else publishes). */
class TurnClockTest {

    @AfterEach
    void retract() {
        TurnClock.retract();
    }

    @Test
    void withNoWorkerAwakeItReadsTheClock() {
        TurnClock.retract();
        long before = System.nanoTime();
        long read = TurnClock.recentOrNow();
        assertThat(read).isBetween(before, System.nanoTime());
    }

    @Test
    void aPublishedTurnIsSharedUntilRetracted() {
        long turn = System.nanoTime() - 1_000_000; // plainly not a fresh read
        TurnClock.retract();
        TurnClock.publish(turn);
        assertThat(TurnClock.recentOrNow()).isEqualTo(turn);
        TurnClock.retract();
        assertThat(TurnClock.recentOrNow()).isGreaterThan(turn);
    }

    @Test
    void aNewerTurnReplacesTheValueOnlyWhenItIsOldEnough() {
        long turn = System.nanoTime() - 1_000_000;
        TurnClock.retract();
        TurnClock.publish(turn);
        TurnClock.publish(turn + TurnClock.REFRESH_NANOS / 2);
        assertThat(TurnClock.recentOrNow()).as("within the refresh window: one cache line write saved").isEqualTo(turn);
        TurnClock.publish(turn + 2 * TurnClock.REFRESH_NANOS);
        assertThat(TurnClock.recentOrNow()).isEqualTo(turn + 2 * TurnClock.REFRESH_NANOS);
    }

    @Test
    void tasksCreatedOffTheRuntimeTakeThePublishedTurn() {
        long turn = System.nanoTime() - 1_000_000;
        TurnClock.retract();
        TurnClock.publish(turn);
        assertThat(Task.of(() -> { }).createdNanos()).isEqualTo(turn);
    }
}
