package io.stellane.runtime;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Pins the calling thread to one CPU with Linux {@code sched_setaffinity(2)} through the FFM API
 * (Java has no API for it). Needs {@code --enable-native-access=ALL-UNNAMED} to run without warnings.
 */
public final class CpuAffinity {
    private static final int MASK_BYTES = 128; // 1024 CPUs, the kernel's default cpu_set_t
    private static final MethodHandle SET;
    private static final MethodHandle GET;
    private static final MethodHandle GETCPU;
    private static final String UNAVAILABLE;

    static {
        MethodHandle set = null, get = null, getcpu = null;
        String why = null;
        try {
            Linker linker = Linker.nativeLinker();
            var libc = linker.defaultLookup();
            FunctionDescriptor affinity = FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_LONG, ValueLayout.ADDRESS);
            set = libc.find("sched_setaffinity").map(a -> linker.downcallHandle(a, affinity)).orElse(null);
            get = libc.find("sched_getaffinity").map(a -> linker.downcallHandle(a, affinity)).orElse(null);
            getcpu = libc.find("sched_getcpu").map(a -> linker.downcallHandle(a, FunctionDescriptor.of(ValueLayout.JAVA_INT))).orElse(null);
            if (set == null || get == null) {
                why = "sched_setaffinity not found in libc (not Linux?)";
            }
        } catch (Throwable t) {
            why = "native access unavailable: " + t;
        }
        SET = set;
        GET = get;
        GETCPU = getcpu;
        UNAVAILABLE = why;
    }

    private CpuAffinity() {
    }

    /** Why pinning cannot work here, or empty when it can. */
    public static Optional<String> unavailabilityCause() {
        return Optional.ofNullable(UNAVAILABLE);
    }

    /** Pins the calling thread to {@code cpu}; returns an error message, or {@code null} on success. */
    public static String pinCurrentThread(int cpu) {
        return pinThread(0, cpu);
    }

    /**
     * Pins the thread with kernel thread id {@code tid} (0: the calling thread) to {@code cpu}; returns
     * an error message, or {@code null} on success.
     */
    public static String pinThread(int tid, int cpu) {
        if (UNAVAILABLE != null) {
            return UNAVAILABLE;
        }
        if (cpu < 0 || cpu >= MASK_BYTES * 8) {
            return "cpu " + cpu + " out of range";
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mask = arena.allocate(MASK_BYTES);
            mask.set(ValueLayout.JAVA_BYTE, cpu / 8, (byte) (1 << (cpu % 8)));
            int rc = (int) SET.invokeExact(tid, (long) MASK_BYTES, mask);
            String target = tid == 0 ? "" : "thread " + tid + ", ";
            return rc == 0 ? null : "sched_setaffinity(" + target + "cpu " + cpu + ") returned " + rc;
        } catch (Throwable t) {
            return "sched_setaffinity failed: " + t;
        }
    }

    /** The CPUs the calling thread may run on. */
    public static List<Integer> allowedCpus() {
        List<Integer> cpus = new ArrayList<>();
        if (UNAVAILABLE == null) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment mask = arena.allocate(MASK_BYTES);
                int rc = (int) GET.invokeExact(0, (long) MASK_BYTES, mask);
                if (rc == 0) {
                    for (int i = 0; i < MASK_BYTES * 8; i++) {
                        if ((mask.get(ValueLayout.JAVA_BYTE, i / 8) & (1 << (i % 8))) != 0) {
                            cpus.add(i);
                        }
                    }
                }
            } catch (Throwable ignored) {
                // fall through to the JVM's count
            }
        }
        if (cpus.isEmpty()) {
            for (int i = 0; i < java.lang.Runtime.getRuntime().availableProcessors(); i++) {
                cpus.add(i);
            }
        }
        return cpus;
    }

    /** The CPU the calling thread runs on now, or -1. */
    public static int currentCpu() {
        if (GETCPU == null) {
            return -1;
        }
        try {
            return (int) GETCPU.invokeExact();
        } catch (Throwable t) {
            return -1;
        }
    }
}
