package io.stellane.benchmarks;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Where the benchmark's threads run. With a producer and two workers on two CPUs, one CPU always
 * carries two of the three threads, and which two changes from second to second: a contender's
 * one-second scores swing 3x with it, more than the ratios the benchmark is read for. {@link #split}
 * takes that choice away: the calling (benchmark) thread alone on the first allowed CPU, every
 * contender's worker thread on the last one, for every contender alike.
 *
 * <p>Linux only ({@code sched_setaffinity(2)} on thread ids through the FFM API, threads found by
 * name in {@code /proc/self/task}).
 */
final class Placement {
    /** Thread names of the contenders' workers as the kernel keeps them (the first 15 characters). */
    static final List<String> WORKER_PREFIXES = List.of(
            "stellane-worker", "multiThreadIoEv", "ForkJoinPool", "bare-handoff");
    private static final int MASK_BYTES = 128;
    private static final MethodHandle SET_AFFINITY;

    static {
        Linker linker = Linker.nativeLinker();
        SET_AFFINITY = linker.defaultLookup().find("sched_setaffinity")
                .map(a -> linker.downcallHandle(a, FunctionDescriptor.of(ValueLayout.JAVA_INT,
                        ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS)))
                .orElse(null);
    }

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
        pin(currentTid(), cpus.getFirst());
        int pinned = 0;
        for (long tid : threadIds(prefixes)) {
            pin(tid, cpus.getLast());
            pinned++;
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

    private static void pin(long tid, int cpu) {
        if (SET_AFFINITY == null) {
            throw new IllegalStateException("sched_setaffinity not found in libc (not Linux?)");
        }
        int rc;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mask = arena.allocate(MASK_BYTES);
            mask.set(ValueLayout.JAVA_BYTE, cpu / 8, (byte) (1 << (cpu % 8)));
            rc = (int) SET_AFFINITY.invokeExact((int) tid, (long) MASK_BYTES, mask);
        } catch (Throwable t) {
            throw new IllegalStateException("sched_setaffinity(" + tid + ", cpu " + cpu + ") failed", t);
        }
        if (rc != 0) {
            throw new IllegalStateException("sched_setaffinity(" + tid + ", cpu " + cpu + ") returned " + rc);
        }
    }
}
