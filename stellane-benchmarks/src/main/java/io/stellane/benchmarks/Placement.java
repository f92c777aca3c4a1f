package io.stellane.benchmarks;

import io.stellane.runtime.CpuAffinity;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Where the benchmark's threads run. With a producer and two workers on two CPUs, one CPU always
 * carries two of the three threads, and which two changes from second to second: a contender's
 * one-second scores swing several-fold with it, more than the ratios the benchmark is read for.
 * {@link #split} takes that choice away: the calling (benchmark) thread alone on the first allowed
 * CPU, every contender's worker thread on the last one, for every contender alike.
 *
 * <p>Pools start threads lazily, and a new thread inherits its creator's CPU: a contender's threads
 * started by the benchmark thread during the first warm-up iteration run on its CPU until the next
 * iteration places them (the benchmark re-applies the split at every iteration; warm-up absorbs it).
 *
 * <p>Linux only ({@link CpuAffinity#pinThread} on thread ids, threads found by name in
 * {@code /proc/self/task}).
 */
final class Placement {
    /** Thread names of the contenders' workers as the kernel keeps them (the first 15 characters). */
    static final List<String> WORKER_PREFIXES = List.of(
            "stellane-worker", "multiThreadIoEv", "ForkJoinPool", "bare-handoff");

    private Placement() {
    }

    /**
     * Pins the calling thread to the first of {@code cpus} and every contender worker thread alive now
     * to the last; returns how many worker threads it pinned.
     *
     * @throws IllegalStateException with fewer than two CPUs, or when the kernel refuses
     */
    static int split(List<Integer> cpus) {
        return split(cpus, WORKER_PREFIXES);
    }

    /** {@link #split(List)} for the worker threads whose names start with one of {@code prefixes}. */
    static int split(List<Integer> cpus, List<String> prefixes) {
        if (cpus.size() < 2) {
            throw new IllegalStateException("placement=split needs two CPUs; this process may use " + cpus);
        }
        pin(currentTid(), cpus.getFirst()); // this thread cannot have ended
        int pinned = 0;
        for (long tid : threadIds(prefixes)) {
            if (pin(tid, cpus.getLast())) {
                pinned++;
            }
        }
        return pinned;
    }

    /** Ids of this process's threads whose names start with one of {@code prefixes}. */
    static List<Long> threadIds(List<String> prefixes) {
        List<Long> tids = new ArrayList<>();
        try (Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path t : tasks.toList()) {
                String name;
                try {
                    name = Files.readString(t.resolve("comm")).strip();
                } catch (IOException gone) {
                    continue; // the thread ended meanwhile
                }
                if (prefixes.stream().anyMatch(name::startsWith)) {
                    tids.add(Long.parseLong(t.getFileName().toString()));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return tids;
    }

    static long currentTid() {
        try {
            return Long.parseLong(Files.readSymbolicLink(Path.of("/proc/thread-self")).getFileName().toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** False for a thread that ended since it was listed; any other refusal ends the run. */
    private static boolean pin(long tid, int cpu) {
        String error = CpuAffinity.pinThread((int) tid, cpu);
        if (error == null) {
            return true;
        }
        if (Files.exists(Path.of("/proc/self/task/" + tid))) {
            throw new IllegalStateException("placement=split: " + error);
        }
        return false;
    }
}
